/*
 * cpu_relax.h - the processor's spin-wait hint, for the busy-wait loops
 * of every layer (spin locks, KeStallExecutionProcessor, the simulated
 * physical memory's lock).  Header only: no layer depends on another
 * for it.
 */
#ifndef USTOR_UTIL_CPU_RELAX_H
#define USTOR_UTIL_CPU_RELAX_H

static inline void ustor_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif /* USTOR_UTIL_CPU_RELAX_H */
