/* libFuzzer harness: an object store's XML reply as src/io/ reads it (error code and message,
 * listing entries and their keys and sizes, upload ids, ETags), and the percent-decoding of
 * listed keys. A field is either found, NUL-terminated and within its buffer, or absent. */
#include "io/s3_xml.h"
#include "fuzz.h"

static void field(const char *xml, size_t len, const char *tag, size_t cap)
{
    char out[256];
    int n = mlic_xml_text(xml, len, tag, out, cap);
    if (n >= (int)cap || (n >= 0 && strlen(out) != (size_t)n) || (n < 0 && out[0]))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    /* Not NUL-terminated: the scanner must stay within len. */
    char *xml = malloc(len ? len : 1);
    if (!xml)
        return 0;
    memcpy(xml, data, len);
    static const char *const tags[] = {"Code", "Message", "UploadId", "ETag", "IsTruncated",
                                       "NextContinuationToken", "Key"};
    for (size_t i = 0; i < sizeof tags / sizeof *tags; i++)
        field(xml, len, tags[i], 1 + (i * 37) % 255);
    size_t pos = 0, n;
    const char *in;
    int count = 0;
    while (mlic_xml_next(xml, len, &pos, "Contents", &in, &n) && count++ < 10000) {
        if (in < xml || in + n > xml + len || pos > len)
            abort();
        char key[64];
        if (mlic_xml_text(in, n, "Key", key, sizeof key) >= 0)
            mlic_url_decode(key);
        field(in, n, "Size", 32);
    }
    free(xml);
    return 0;
}
