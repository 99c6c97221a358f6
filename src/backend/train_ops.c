/* The training op tables of this build, by name (train_ops.h). */
#include "backend/train_ops.h"

#include <string.h>

const mlic_train_backend *mlic_train_backend_default(void)
{
#if MLIC_HAVE_ONEDNN
    return &mlic_train_backend_onednn;
#else
    return &mlic_train_backend_ref;
#endif
}

const mlic_train_backend *mlic_train_backend_find(const char *name)
{
    if (!strcmp(name, mlic_train_backend_ref.name))
        return &mlic_train_backend_ref;
#if MLIC_HAVE_ONEDNN
    if (!strcmp(name, mlic_train_backend_onednn.name))
        return &mlic_train_backend_onednn;
    if (!strcmp(name, mlic_train_backend_onednn_direct.name))
        return &mlic_train_backend_onednn_direct;
#endif
    return NULL;
}
