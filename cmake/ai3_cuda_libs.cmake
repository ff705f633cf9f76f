# Finding cuDNN and cuBLAS for the CUDA backend: on the system (CUDNN_ROOT,
# CUDA_HOME, the toolkit's include/lib dirs, /usr) or inside the NVIDIA pip
# wheels that torch's CUDA build installs (nvidia-cudnn-cu13/-cu12, nvidia-cublas
# /-cu12), located from the build's Python at configure time.
#
# ai3_find_cuda_lib(<prefix> <header> <lib-regex> <wheel dists...>) sets
#   <prefix>_INCLUDE_DIR, <prefix>_LIBRARY (a full path, e.g. .../libcudnn.so.9)
#   and <prefix>_FROM ("system" or the wheel's name), or leaves them empty.
function(ai3_find_cuda_lib prefix header libregex)
  set(dists ${ARGN})
  set(inc "")
  set(lib "")
  set(from "")
  # 1. The system: explicit roots first, then the toolkit's own directories.
  set(roots $ENV{CUDNN_ROOT} ${CUDNN_ROOT} $ENV{CUDA_HOME} ${CUDAToolkit_LIBRARY_ROOT})
  find_path(_inc_${prefix} ${header} HINTS ${roots} ${CUDAToolkit_INCLUDE_DIRS}
            PATH_SUFFIXES include NO_CACHE)
  if(_inc_${prefix})
    file(GLOB _cands
      ${_inc_${prefix}}/../lib64/lib*.so* ${_inc_${prefix}}/../lib/lib*.so*
      ${_inc_${prefix}}/../lib/x86_64-linux-gnu/lib*.so* /usr/lib/x86_64-linux-gnu/lib*.so*
      ${CUDAToolkit_LIBRARY_DIR}/lib*.so*)
    foreach(c ${_cands})
      get_filename_component(n ${c} NAME)
      if(n MATCHES "^${libregex}$")
        set(inc ${_inc_${prefix}})
        set(lib ${c})
        set(from "system")
        break()
      endif()
    endforeach()
  endif()
  # 2. The NVIDIA wheels next to torch.
  if(NOT lib)
    foreach(dist ${dists})
      ai3_python_package_file(_h ${dist} "include/${header}$")
      ai3_python_package_file(_l ${dist} "/${libregex}$")
      if(_h AND _l)
        get_filename_component(inc ${_h} DIRECTORY)
        set(lib ${_l})
        set(from "wheel ${dist}")
        break()
      endif()
    endforeach()
  endif()
  set(${prefix}_INCLUDE_DIR "${inc}" PARENT_SCOPE)
  set(${prefix}_LIBRARY "${lib}" PARENT_SCOPE)
  set(${prefix}_FROM "${from}" PARENT_SCOPE)
endfunction()
