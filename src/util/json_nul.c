#include "util/json_nul.h"

#include <string.h>

long long mlic_json_nul_escape(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\0')
            return (long long)i;
        if (text[i] != '\\' || i + 1 == len)
            continue;
        if (text[i + 1] == 'u' && i + 6 <= len && !memcmp(text + i + 2, "0000", 4))
            return (long long)i;
        i++; /* the escaped character: "\\" must not start another escape */
    }
    return -1;
}
