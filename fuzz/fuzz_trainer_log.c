/* libFuzzer harness: a training run's --log (JSON Lines) read back as mlic report reads it,
 * through mlic_trainer_log_read. The reader takes a path. */
#include "fuzz.h"
#include "train/trainer_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    const char *path = fuzz_file("train.jsonl", data, len);
    mlic_trainer_log l;
    if (mlic_trainer_log_read(&l, path) == MLIC_OK) {
        size_t lines = 1;
        for (size_t i = 0; i < len; i++)
            lines += data[i] == '\n';
        if ((size_t)l.nepochs + (size_t)l.has_final > lines || (l.nepochs && !l.epochs) ||
            (l.nthresholds && !l.thresholds))
            abort(); /* more entries than lines, or counts without their arrays */
        for (int i = 0; i < l.nepochs; i++)
            if (l.epochs[i].epoch < 1)
                abort(); /* the reader refuses epochs below 1 */
        mlic_trainer_log_free(&l);
    }
    return 0;
}
