#include "mlic.h"

int mlic_version(void)
{
    return MLIC_VERSION_NUMBER;
}
