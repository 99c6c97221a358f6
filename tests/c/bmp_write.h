/* Test images without an encoder library: a side x side 24-bit bottom-up BMP of one colour,
 * which every decoder path reads exactly. */
#ifndef MLIC_TESTS_BMP_WRITE_H
#define MLIC_TESTS_BMP_WRITE_H

#include <stdio.h>
#include <stdlib.h>

static int bmp_write_solid(const char *path, int side, unsigned char r, unsigned char g,
                           unsigned char b)
{
    const int row = (side * 3 + 3) & ~3;
    const unsigned size = 54u + (unsigned)(row * side);
    unsigned char h[54] = {'B', 'M'};
    const unsigned fields[][2] = {{2, size}, {10, 54}, {14, 40}, {18, (unsigned)side},
                                  {22, (unsigned)side}};
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
        for (int k = 0; k < 4; k++)
            h[fields[f][0] + k] = (unsigned char)(fields[f][1] >> (8 * k));
    h[26] = 1;
    h[28] = 24;
    unsigned char *px = calloc((size_t)row, 1);
    FILE *f = px ? fopen(path, "wb") : NULL;
    if (!f) {
        free(px);
        return -1;
    }
    fwrite(h, 1, sizeof h, f);
    for (int x = 0; x < side; x++) {
        px[3 * x] = b;
        px[3 * x + 1] = g;
        px[3 * x + 2] = r;
    }
    for (int y = 0; y < side; y++)
        fwrite(px, 1, (size_t)row, f);
    free(px);
    return fclose(f);
}

#endif
