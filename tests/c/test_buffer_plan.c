/* The buffer planner (src/util/buffer_plan.h): on random schedules of takes, extra holders and
 * gives, values alive at the same time never share memory, every offset is aligned, the arena
 * is no larger than all sizes together, and the same schedule gives the same plan; on small
 * hand-made ones, a freed slot is reused by best fit, the largest free slot grows when none
 * fits, and equal candidates go to the lowest id. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "test_rng.h"
#include "mlic.h"
#include "util/buffer_plan.h"

static mlic_buffer_plan *make(size_t align)
{
    mlic_buffer_plan *p = NULL;
    CHECK(mlic_buffer_plan_create(&p, align) == MLIC_OK, "%s", mlic_errmsg());
    return p;
}

static int take(mlic_buffer_plan *p, size_t size)
{
    int s = -1;
    CHECK(mlic_buffer_plan_take(p, size, &s) == MLIC_OK, "%s", mlic_errmsg());
    return s;
}

static void test_reuse_and_best_fit(void)
{
    mlic_buffer_plan *p = make(1);
    const int a = take(p, 100), b = take(p, 50), c = take(p, 200);
    CHECK(a == 0 && b == 1 && c == 2, "new slots in order: %d %d %d", a, b, c);
    mlic_buffer_plan_give(p, a);
    const int d = take(p, 80);
    CHECK(d == a, "a freed slot is reused: got %d", d);
    CHECK(mlic_buffer_plan_size(p, a) == 100, "reuse keeps the larger size");
    mlic_buffer_plan_give(p, b);
    mlic_buffer_plan_give(p, c);
    mlic_buffer_plan_give(p, d);
    /* Free: 100, 50, 200. Best fit for 60 is the 100 one, for 40 the 50 one. */
    CHECK(take(p, 60) == a, "best fit for 60");
    CHECK(take(p, 40) == b, "best fit for 40");
    /* Only 200 is free: 300 grows it instead of making a slot. */
    CHECK(take(p, 300) == c, "the largest free slot grows");
    CHECK(mlic_buffer_plan_size(p, c) == 300, "grown to %zu", mlic_buffer_plan_size(p, c));
    CHECK(mlic_buffer_plan_slots(p) == 3, "no new slot: %d", mlic_buffer_plan_slots(p));
    CHECK(mlic_buffer_plan_offset(p, 0) == 0 && mlic_buffer_plan_offset(p, 1) == 100 &&
              mlic_buffer_plan_offset(p, 2) == 150 && mlic_buffer_plan_total(p) == 450,
          "offsets back to back: %zu %zu total %zu", mlic_buffer_plan_offset(p, 1),
          mlic_buffer_plan_offset(p, 2), mlic_buffer_plan_total(p));
    /* Every slot held: a take needs a new slot. */
    CHECK(take(p, 1) == 3, "all held: a new slot");

    /* Equal candidates: the lowest id. */
    mlic_buffer_plan_reset(p);
    CHECK(mlic_buffer_plan_slots(p) == 0 && mlic_buffer_plan_total(p) == 0, "reset empties");
    const int e = take(p, 64), f = take(p, 64), h = take(p, 64);
    mlic_buffer_plan_give(p, h);
    mlic_buffer_plan_give(p, f);
    mlic_buffer_plan_give(p, e);
    CHECK(take(p, 10) == e && take(p, 100) == f, "ties go to the lowest id");
    mlic_buffer_plan_destroy(p);
}

static void test_holders_and_alignment(void)
{
    mlic_buffer_plan *p = make(64);
    const int a = take(p, 1);
    CHECK(mlic_buffer_plan_size(p, a) == 64, "rounded to the alignment: %zu",
          mlic_buffer_plan_size(p, a));
    mlic_buffer_plan_hold(p, a);
    CHECK(mlic_buffer_plan_holders(p, a) == 2, "two holders");
    mlic_buffer_plan_give(p, a);
    CHECK(take(p, 10) != a, "a slot with a holder left is not free");
    mlic_buffer_plan_give(p, a);
    CHECK(mlic_buffer_plan_holders(p, a) == 0 && take(p, 10) == a, "free at no holders");
    mlic_buffer_plan_destroy(p);

    mlic_buffer_plan *bad = NULL;
    CHECK(mlic_buffer_plan_create(&bad, 0) == MLIC_ERR_INVALID_ARG && !bad &&
              strstr(mlic_errmsg(), "alignment"),
          "alignment 0 refused: %s", mlic_errmsg());
}

/* A random schedule: each step either starts a value (a take, or sharing a live value's slot
 * as an extra holder) or ends a live one. */
#define VALUES 400

typedef struct {
    int slot[VALUES];
    size_t size[VALUES];
    int start[VALUES], end[VALUES]; /* steps; end = -1 while alive */
    int nvalues;
} schedule;

static void run_schedule(mlic_buffer_plan *p, schedule *sc, uint64_t seed)
{
    rng r = {seed};
    int live[VALUES], nlive = 0, step = 0;
    sc->nvalues = 0;
    while (sc->nvalues < VALUES || nlive > 0) {
        const float u = uniform(&r, 0.0f, 1.0f);
        const int v = sc->nvalues;
        if (v < VALUES && (nlive == 0 || u < 0.55f)) {
            if (nlive > 0 && u < 0.08f) { /* an alias of a live value */
                const int of = live[(int)uniform(&r, 0.0f, (float)nlive)];
                sc->slot[v] = sc->slot[of];
                sc->size[v] = sc->size[of];
                mlic_buffer_plan_hold(p, sc->slot[v]);
            } else {
                sc->size[v] = 1 + (size_t)uniform(&r, 0.0f, 5000.0f);
                sc->slot[v] = take(p, sc->size[v]);
            }
            sc->start[v] = step;
            sc->end[v] = -1;
            live[nlive++] = v;
            sc->nvalues++;
        } else {
            const int k = (int)uniform(&r, 0.0f, (float)nlive);
            const int w = live[k];
            live[k] = live[--nlive];
            mlic_buffer_plan_give(p, sc->slot[w]);
            sc->end[w] = step;
        }
        step++;
    }
}

static void test_random_schedules(void)
{
    const size_t aligns[] = {1, 16, 64};
    for (int a = 0; a < 3; a++)
        for (uint64_t seed = 1; seed <= 20; seed++) {
            const size_t align = aligns[a];
            mlic_buffer_plan *p = make(align), *q = make(align);
            static schedule sc, sc2;
            run_schedule(p, &sc, seed);
            run_schedule(q, &sc2, seed);
            const int nslots = mlic_buffer_plan_slots(p);
            size_t sum = 0;
            int bad_overlap = 0, bad_size = 0, bad_slot = 0;
            for (int v = 0; v < sc.nvalues; v++) {
                const int s = sc.slot[v];
                bad_slot += s < 0 || s >= nslots;
                if (s < 0 || s >= nslots)
                    continue;
                sum += (sc.size[v] + align - 1) / align * align;
                bad_size += mlic_buffer_plan_size(p, s) < sc.size[v];
                /* Alive together and in different slots: disjoint memory. In the same slot:
                 * only as an alias (the same memory on purpose, same size here). */
                for (int w = 0; w < v; w++) {
                    const int t = sc.slot[w];
                    if (sc.end[w] <= sc.start[v] || sc.end[v] <= sc.start[w])
                        continue;
                    if (s == t) {
                        bad_overlap += sc.size[v] != sc.size[w];
                        continue;
                    }
                    const size_t ov = mlic_buffer_plan_offset(p, s);
                    const size_t ow = mlic_buffer_plan_offset(p, t);
                    bad_overlap += ov < ow + mlic_buffer_plan_size(p, t) &&
                                   ow < ov + mlic_buffer_plan_size(p, s);
                }
            }
            CHECK(!bad_slot && !bad_size && !bad_overlap,
                  "seed %llu align %zu: %d bad slots, %d too small, %d overlaps",
                  (unsigned long long)seed, align, bad_slot, bad_size, bad_overlap);
            int misaligned = 0, free_left = 0;
            for (int s = 0; s < nslots; s++) {
                misaligned += mlic_buffer_plan_offset(p, s) % align != 0 ||
                              mlic_buffer_plan_size(p, s) % align != 0;
                free_left += mlic_buffer_plan_holders(p, s) != 0;
            }
            CHECK(!misaligned && !free_left, "seed %llu: %d misaligned, %d still held",
                  (unsigned long long)seed, misaligned, free_left);
            CHECK(mlic_buffer_plan_total(p) <= sum && nslots < sc.nvalues,
                  "seed %llu: total %zu of %zu, %d slots for %d values: nothing reused",
                  (unsigned long long)seed, mlic_buffer_plan_total(p), sum, nslots, sc.nvalues);
            CHECK(mlic_buffer_plan_total(p) < sum / 2,
                  "seed %llu: total %zu of %zu: reuse should halve it at least",
                  (unsigned long long)seed, mlic_buffer_plan_total(p), sum);
            int same = mlic_buffer_plan_slots(q) == nslots &&
                       mlic_buffer_plan_total(q) == mlic_buffer_plan_total(p) &&
                       !memcmp(sc.slot, sc2.slot, sizeof sc.slot);
            for (int s = 0; same && s < nslots; s++)
                same = mlic_buffer_plan_offset(q, s) == mlic_buffer_plan_offset(p, s);
            CHECK(same, "seed %llu: the same schedule gave another plan",
                  (unsigned long long)seed);
            mlic_buffer_plan_destroy(p);
            mlic_buffer_plan_destroy(q);
        }
}

int main(void)
{
    test_reuse_and_best_fit();
    test_holders_and_alignment();
    test_random_schedules();
    CHECK_DONE();
}
