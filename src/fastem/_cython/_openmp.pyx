# cython: language_level=3
"""The thread count of the Cython kernels (OpenMP), set like Numba's.

Without OpenMP (a serial build) every kernel runs on one thread.
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
    """
    int fastem_omp_max_threads() noexcept nogil
    int FASTEM_OPENMP

cdef int _threads = 0  # 0: OpenMP's default (OMP_NUM_THREADS, else every core)


cdef int current_threads() noexcept nogil:
    if _threads > 0:
        return _threads
    return fastem_omp_max_threads()


def openmp_enabled():
    """Whether the kernels were compiled with OpenMP (else they run serially)."""
    return bool(FASTEM_OPENMP)


def get_num_threads():
    """The number of threads the next kernel call will use."""
    return current_threads()


def set_num_threads(int n_threads):
    """Use ``n_threads`` threads in the following kernel calls (≥ 1; 1 in a serial build)."""
    global _threads
    if n_threads < 1:
        raise ValueError(f"n_threads must be at least 1, got {n_threads}")
    _threads = n_threads if FASTEM_OPENMP else 1


def get_max_threads():
    """OpenMP's default thread count here (OMP_NUM_THREADS, else the cores); 1 if serial."""
    return fastem_omp_max_threads()
