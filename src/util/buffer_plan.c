/* The liveness-based buffer planner (buffer_plan.h). */
#include "util/buffer_plan.h"

#include <stdlib.h>

#include "core/error.h"

typedef struct {
    size_t size;  /* units, a multiple of align */
    int holders;
} slot;

struct mlic_buffer_plan {
    size_t align;
    slot *slots;
    int nslots, cap;
};

mlic_status mlic_buffer_plan_create(mlic_buffer_plan **out, size_t align)
{
    *out = NULL;
    if (align < 1)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "buffer plan: alignment %zu must be >= 1", align);
    mlic_buffer_plan *p = calloc(1, sizeof *p);
    if (!p)
        return mlic_fail(MLIC_ERR_NOMEM, "buffer plan: out of memory");
    p->align = align;
    *out = p;
    return MLIC_OK;
}

void mlic_buffer_plan_destroy(mlic_buffer_plan *p)
{
    if (!p)
        return;
    free(p->slots);
    free(p);
}

void mlic_buffer_plan_reset(mlic_buffer_plan *p)
{
    p->nslots = 0;
}

mlic_status mlic_buffer_plan_take(mlic_buffer_plan *p, size_t size, int *out)
{
    size = (size + p->align - 1) / p->align * p->align;
    int fit = -1, largest = -1;
    for (int s = 0; s < p->nslots; s++) {
        const slot *b = &p->slots[s];
        if (b->holders)
            continue;
        if (b->size >= size && (fit < 0 || b->size < p->slots[fit].size))
            fit = s;
        if (largest < 0 || b->size > p->slots[largest].size)
            largest = s;
    }
    int id = fit >= 0 ? fit : largest;
    if (id < 0) {
        if (p->nslots == p->cap) {
            const int ncap = p->cap ? 2 * p->cap : 16;
            slot *grown = realloc(p->slots, (size_t)ncap * sizeof *grown);
            if (!grown)
                return mlic_fail(MLIC_ERR_NOMEM, "buffer plan: out of memory for %d slots",
                                 ncap);
            p->slots = grown;
            p->cap = ncap;
        }
        id = p->nslots++;
        p->slots[id].size = 0;
    }
    if (p->slots[id].size < size)
        p->slots[id].size = size;
    p->slots[id].holders = 1;
    *out = id;
    return MLIC_OK;
}

void mlic_buffer_plan_hold(mlic_buffer_plan *p, int s)
{
    p->slots[s].holders++;
}

void mlic_buffer_plan_give(mlic_buffer_plan *p, int s)
{
    if (p->slots[s].holders > 0)
        p->slots[s].holders--;
}

int mlic_buffer_plan_holders(const mlic_buffer_plan *p, int s)
{
    return p->slots[s].holders;
}

int mlic_buffer_plan_slots(const mlic_buffer_plan *p)
{
    return p->nslots;
}

size_t mlic_buffer_plan_size(const mlic_buffer_plan *p, int s)
{
    return p->slots[s].size;
}

size_t mlic_buffer_plan_offset(const mlic_buffer_plan *p, int s)
{
    size_t at = 0;
    for (int k = 0; k < s; k++)
        at += p->slots[k].size;
    return at;
}

size_t mlic_buffer_plan_total(const mlic_buffer_plan *p)
{
    return mlic_buffer_plan_offset(p, p->nslots);
}
