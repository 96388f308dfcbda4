// A stand-in for CUDA's headers, so that the library's .cu sources compile as plain C++ and run
// on the CPU in the tests (tests/kernels_on_cpu.py). It is found in place of <cuda_bf16.h>.
//
// What it gives: the CUDA qualifiers as no-ops, the thread and block coordinates as globals that
// for_each_thread() sets while it runs every thread of every block in turn, and a bfloat16 type
// with the same conversions (round to nearest even) as CUDA's.
//
// What it does not give, on purpose: __shared__, __syncthreads, warp votes, shuffles, atomics.
// Running threads one after another is faithful only for kernels whose threads do not talk to
// each other, which is every kernel of the library today. A kernel that starts using any of
// these fails to compile here, and needs a faithful port added to this file before the CPU
// tests can vouch for it.
#pragma once

#include <cstdint>
#include <cstring>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline

struct dim3 { unsigned x = 1, y = 1, z = 1; };
inline dim3 threadIdx, blockIdx, blockDim, gridDim;

// Run f() once for every thread of a grid x block launch, setting the coordinates it reads.
template <class F>
void for_each_thread(const unsigned* grid, const unsigned* block, F f)
{
    gridDim = {grid[0], grid[1], grid[2]};
    blockDim = {block[0], block[1], block[2]};
    for (unsigned bz = 0; bz < grid[2]; ++bz)
        for (unsigned by = 0; by < grid[1]; ++by)
            for (unsigned bx = 0; bx < grid[0]; ++bx)
                for (unsigned tz = 0; tz < block[2]; ++tz)
                    for (unsigned ty = 0; ty < block[1]; ++ty)
                        for (unsigned tx = 0; tx < block[0]; ++tx) {
                            blockIdx = {bx, by, bz};
                            threadIdx = {tx, ty, tz};
                            f();
                        }
}

// bfloat16: the top 16 bits of a float. No arithmetic operators, as on the GPU the kernels
// widen to float explicitly.
struct __nv_bfloat16 { uint16_t bits; };

inline float __bfloat162float(__nv_bfloat16 h)
{
    const uint32_t u = uint32_t(h.bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

inline __nv_bfloat16 __float2bfloat16(float f)
{
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return {uint16_t((u >> 16) | 0x40u)};   // NaN stays NaN
    u += 0x7fffu + ((u >> 16) & 1u);                                              // nearest even
    return {uint16_t(u >> 16)};
}
