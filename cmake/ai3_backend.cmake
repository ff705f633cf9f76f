# Helpers shared by the backend folders: each backend decides whether it can be
# built and records a one-line status that `python -m ai3 info` prints.

# ai3_backend_unavailable(<VAR> <MODE> <reason>): with MODE=ON (or AOT/RTC for SYCL)
# a missing toolchain is a configure error; otherwise the backend is off with the reason.
function(ai3_backend_unavailable var mode reason)
  if(mode STREQUAL "ON" OR mode STREQUAL "AOT" OR mode STREQUAL "RTC")
    message(FATAL_ERROR "${var}=${mode} but ${reason}")
  endif()
  set(${var}_STATUS "off: ${reason}" PARENT_SCOPE)
endfunction()

# ai3_python_package_dir(<out> <distribution> <file-name-regex>): the directory of a
# file installed by a Python distribution (e.g. intel-sycl-rt's libsycl.so), or "".
# Wheels record libraries with paths like ../../libsycl.so, so match the file name.
function(ai3_python_package_file out dist regex)
  execute_process(
    COMMAND ${Python_EXECUTABLE} -c "
import importlib.metadata as m, re, sys
try:
    d = m.distribution('${dist}')
except m.PackageNotFoundError:
    sys.exit(0)
for f in d.files or []:
    if re.search(r'${regex}', str(f)):
        print(d.locate_file(f).resolve()); break
"
    OUTPUT_VARIABLE found OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  set(${out} "${found}" PARENT_SCOPE)
endfunction()
