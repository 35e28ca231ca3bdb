# Build-time step (cmake -P) after a doctest binary links: lists its test
# cases and writes the ctest file that registers each case as its own test,
# "<binary>: <case>", so a failure is rerun alone (`ctest --rerun-failed`) and
# `ctest -R` picks single cases.
#   EXE    the test binary
#   NAME   its target name (the test-name prefix)
#   OUT    the ctest file to write
cmake_minimum_required(VERSION 3.22)  # policies of this script (IN_LIST)
execute_process(COMMAND "${EXE}" --list-test-cases --no-version
                OUTPUT_VARIABLE listing RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${EXE} --list-test-cases failed (${rc}): ${err}")
endif()
# A ';' in a case name would split CMake lists: carried as a placeholder.
string(REPLACE ";" "<ovseg-semicolon>" listing "${listing}")
string(REPLACE "\n" ";" lines "${listing}")
set(script "")
set(seen "")
set(count 0)
foreach(line IN LISTS lines)
  # doctest frames the list with "[doctest] ..." lines and a ruler of '='.
  if(line STREQUAL "" OR line MATCHES "^\\[doctest\\]" OR line MATCHES "^=+$")
    continue()
  endif()
  if(line IN_LIST seen)  # the same name in two files: one test runs both
    continue()
  endif()
  list(APPEND seen "${line}")
  # --test-case takes comma-separated wildcard filters: a comma in a name
  # is escaped; '*' and '?' in a name still match the name itself.
  string(REPLACE "<ovseg-semicolon>" ";" name "${line}")
  string(REPLACE "," "\\," filter "${name}")
  # ovseg_doctest_case() comes from the include file written at configure
  # time: it adds the test with the fragment's properties.
  string(APPEND script "ovseg_doctest_case([==[${NAME}: ${name}]==] \"${EXE}\" [==[--test-case=${filter}]==])\n")
  math(EXPR count "${count} + 1")
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "${EXE} lists no test cases:\n${listing}")
endif()
file(WRITE "${OUT}" "${script}")
