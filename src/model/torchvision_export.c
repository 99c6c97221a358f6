/* mlic_model_export_torchvision: the weights as a plain torchvision state dict plus the class
 * list beside it, for PyTorch users who want no mlic metadata in their files. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model.h"
#include "util/file_write.h"

mlic_status mlic_model_export_torchvision(const mlic_model *m, const char *weights_path,
                                          const char *classes_path)
{
    if (!m || !weights_path || !classes_path)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_model_export_torchvision: needs a model, a "
                         "weights path and a classes path");
    /* One name per line: names hold no newline (mlic_model_check_classes), so the list reads
     * back line for line, as mlic import --classes reads it. */
    size_t len = 0;
    for (int i = 0; i < m->num_classes; i++)
        len += strlen(m->classes[i]) + 1;
    char *text = malloc(len + 1), *at = text;
    if (!text)
        return mlic_fail(MLIC_ERR_NOMEM, "writing %s: out of memory", classes_path);
    for (int i = 0; i < m->num_classes; i++) {
        size_t n = strlen(m->classes[i]);
        memcpy(at, m->classes[i], n);
        at[n] = '\n';
        at += n + 1;
    }
    mlic_status st = mlic_model_save_tensors(m, weights_path, NULL, NULL, 0);
    if (st == MLIC_OK)
        st = mlic_file_write_atomic(classes_path, text, len);
    free(text);
    return st;
}
