/* mlic_model_import: a torchvision state dict (safetensors) plus a spec -> a model file. */
#include "core/error.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "model/state_dict.h"

mlic_status mlic_model_import(const char *weights_path, const mlic_model_spec *spec,
                              const char *out_path)
{
    return mlic_model_import_io(NULL, weights_path, spec, out_path);
}

mlic_status mlic_model_import_io(mlic_io *io, const char *weights_path,
                                 const mlic_model_spec *spec, const char *out_path)
{
    static const char hint[] = "HINT: the class list needs one name per output of the head, in "
                               "the order the head was trained with; an ImageNet checkpoint (1000 "
                               "outputs) needs a multi-label head trained first ('mlic train')";
    mlic_model *m = NULL;
    mlic_safetensors *f = NULL;
    /* The weights first: their head's shape bounds the class count before the graph is built
     * for it. */
    mlic_status st = mlic_safetensors_open_io(&f, io, weights_path);
    if (!st)
        st = mlic_model_check_head(f, spec->arch, spec->num_classes, "the class list has", hint);
    if (!st)
        st = mlic_model_create(&m, spec);
    if (!st)
        st = mlic_state_dict_load(m->graph, f, 0, hint);
    if (!st)
        st = mlic_model_save_io(m, io, out_path);
    mlic_safetensors_close(f);
    mlic_model_free(m);
    return st;
}
