/* What the harnesses of the text data-set formats share: the input split into an optional class
 * file and the data-set text, read in memory by one reader, the result built and freed. */
#ifndef MLIC_FUZZ_TEXT_DATASET_H
#define MLIC_FUZZ_TEXT_DATASET_H

#include "data/dataset_build.h"
#include "fuzz.h"

typedef mlic_status (*fuzz_text_reader)(mlic_dataset_builder *b, const char *text, size_t len);

static inline void fuzz_text_dataset(const uint8_t *data, size_t len, fuzz_text_reader read,
                                     mlic_dataset_format format)
{
    const char *classes;
    fuzz_split_classes(&data, &len, &classes);
    char *text = fuzz_text(data, len);
    if (!text)
        return;
    mlic_dataset_builder b;
    mlic_dataset *d = NULL;
    mlic_status st = mlic_dataset_builder_init(&b, "fuzz.txt", "/data", classes, 0);
    if (st == MLIC_OK)
        st = read(&b, text, len);
    if (st == MLIC_OK)
        st = mlic_dataset_builder_finish(&b, &d, format);
    mlic_dataset_builder_free(&b);
    mlic_dataset_free(d);
    free(text);
}

#endif
