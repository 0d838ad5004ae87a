# cython: language_level=3
"""The thread count of the Cython kernels (OpenMP), set like Numba's.

As with ``numba.set_num_threads``, the setting belongs to the calling thread:
two Python threads may fit with different counts. Without OpenMP (a serial
build) every kernel runs on one thread.
"""

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int fastem_omp_max_threads(void) { return omp_get_max_threads(); }
    #define FASTEM_OPENMP 1
    #else
    static int fastem_omp_max_threads(void) { return 1; }
    #define FASTEM_OPENMP 0
    #endif
    #if defined(_MSC_VER)
    #define FASTEM_THREAD_LOCAL __declspec(thread)
    #else
    #define FASTEM_THREAD_LOCAL _Thread_local
    #endif
    /* 0: OpenMP's default (OMP_NUM_THREADS, else every core) */
    static FASTEM_THREAD_LOCAL int fastem_threads = 0;
    static int fastem_get_threads(void) { return fastem_threads; }
    static void fastem_set_threads(int n) { fastem_threads = n; }
    """
    int fastem_omp_max_threads() noexcept nogil
    int fastem_get_threads() noexcept nogil
    void fastem_set_threads(int n_threads) noexcept nogil
    int FASTEM_OPENMP


cdef int current_threads() noexcept nogil:
    cdef int n_threads = fastem_get_threads()
    return n_threads if n_threads > 0 else fastem_omp_max_threads()


def openmp_enabled():
    """Whether the kernels were compiled with OpenMP (else they run serially)."""
    return bool(FASTEM_OPENMP)


def get_num_threads():
    """The number of threads the calling thread's next kernel call will use."""
    return current_threads()


def set_num_threads(int n_threads):
    """Use ``n_threads`` threads in this thread's following kernel calls (≥ 1; 1 if serial)."""
    if n_threads < 1:
        raise ValueError(f"n_threads must be at least 1, got {n_threads}")
    fastem_set_threads(n_threads if FASTEM_OPENMP else 1)


def get_max_threads():
    """OpenMP's default thread count here (OMP_NUM_THREADS, else the cores); 1 if serial."""
    return fastem_omp_max_threads()


cdef extern from *:
    """
    #ifndef FASTEM_DEBUG_BUILD
    #define FASTEM_DEBUG_BUILD 0
    #endif
    """
    int FASTEM_DEBUG_BUILD


def checked_build():
    """Whether the kernels were built with FASTEM_BUILD_DEBUG=1 (bounds checks, AddressSanitizer)."""
    return bool(FASTEM_DEBUG_BUILD)
