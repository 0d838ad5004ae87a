cdef int current_threads() noexcept nogil
