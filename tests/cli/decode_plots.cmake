# Runs `scanlab bench decode --plot-dir` on a tiny CPU shape and fails unless both SVG plots exist
# and name every model (the T-PSM's chunk-boundary steps as a series of their own).
# Usage: cmake -DSCANLAB=<binary> -DDIR=<plot dir> -P this
file(REMOVE_RECURSE ${DIR})
execute_process(COMMAND ${SCANLAB} --threads 1 bench decode --models transformer_psm,gla --tokens 64 --width 16
                        --chunk 4 --plot-dir ${DIR}/nested
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "bench decode --plot-dir failed (${rc}): ${err}")
endif()
foreach(plot decode_latency decode_state)
  if(NOT EXISTS ${DIR}/nested/${plot}.svg)
    message(FATAL_ERROR "${plot}.svg was not written; stderr: ${err}")
  endif()
  file(READ ${DIR}/nested/${plot}.svg svg)
  foreach(needle "<svg" "transformer_psm" "gla")
    string(FIND "${svg}" "${needle}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "${plot}.svg does not contain '${needle}'")
    endif()
  endforeach()
endforeach()
file(READ ${DIR}/nested/decode_latency.svg svg)
string(FIND "${svg}" "chunk-boundary steps" at)
if(at EQUAL -1)
  message(FATAL_ERROR "decode_latency.svg has no chunk-boundary series")
endif()
message(STATUS "plots written: ${DIR}/nested")
