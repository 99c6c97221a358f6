/* libFuzzer harness: a prediction run's progress journal through mlic_journal_read. Entries carry
 * a CRC-32 that random bytes never match, so the first input byte chooses: odd, the harness
 * seals every whole 80-byte entry with its correct CRC (the fields then reach the decoder); even,
 * the bytes go as they are (torn and damaged entries). The reader takes a path. */
#include "dist/journal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len == 0)
        return 0;
    int seal = data[0] & 1;
    data++;
    len--;
    uint8_t *buf = malloc(len + 1);
    if (!buf)
        abort();
    memcpy(buf, data, len);
    for (size_t at = 0; seal && at + MLIC_JOURNAL_ENTRY <= len; at += MLIC_JOURNAL_ENTRY) {
        uint8_t *e = buf + at;
        uint32_t crc = mlic_crc32(0, e, MLIC_JOURNAL_ENTRY - 4);
        for (int i = 0; i < 4; i++)
            e[MLIC_JOURNAL_ENTRY - 4 + i] = (uint8_t)(crc >> (8 * i));
    }
    const char *path = fuzz_file("out.part-00000-of-00001.journal", buf, len);
    free(buf);
    int header_ok;
    mlic_journal_header h;
    mlic_journal_point *pts;
    size_t n;
    if (mlic_journal_read(path, &header_ok, &h, &pts, &n) == MLIC_OK) {
        if (n > len / MLIC_JOURNAL_ENTRY || (!header_ok && n))
            abort(); /* more checkpoints than whole entries, or points without a header */
        free(pts);
    }
    return 0;
}
