# CLI behaviour: help, bad flags and bad values are errors naming the culprit, the demo agrees.
function(scanlab_cli_test name)
  cmake_parse_arguments(T "" "EXPECT;FAIL_EXPECT" "ARGS" ${ARGN})
  add_test(NAME cli.${name} COMMAND scanlab ${T_ARGS})
  if(T_EXPECT)
    set_tests_properties(cli.${name} PROPERTIES PASS_REGULAR_EXPRESSION "${T_EXPECT}")
  endif()
  if(T_FAIL_EXPECT)
    # Must exit non-zero and print the expected message.
    add_test(NAME cli.${name}.exit_code COMMAND scanlab ${T_ARGS})
    set_tests_properties(cli.${name}.exit_code PROPERTIES WILL_FAIL TRUE)
    set_tests_properties(cli.${name} PROPERTIES PASS_REGULAR_EXPRESSION "${T_FAIL_EXPECT}")
  endif()
endfunction()

scanlab_cli_test(help ARGS --help EXPECT "Subcommands:.*demo")
scanlab_cli_test(no_subcommand ARGS FAIL_EXPECT "subcommand")
scanlab_cli_test(unknown_flag ARGS --bogus demo FAIL_EXPECT "--bogus")
scanlab_cli_test(bad_device ARGS --device tpu demo FAIL_EXPECT "tpu.*expected cpu, cuda")
scanlab_cli_test(bad_threads ARGS --threads -3 demo FAIL_EXPECT "threads")
scanlab_cli_test(bad_demo_value ARGS demo --chunks zero FAIL_EXPECT "chunks")
scanlab_cli_test(demo ARGS --threads 1 demo --chunks 37 EXPECT "compute the same function")
scanlab_cli_test(bench_bad_format ARGS bench scan -o xml FAIL_EXPECT "xml")
scanlab_cli_test(bench_scan_small ARGS bench scan --lengths 3,17 --dim 8 -r 1 EXPECT "\\| 17 \\|")

# scanlab nar: datasets, read-back, statistics, and errors that name the culprit.
set(NAR_NPZ ${PROJECT_BINARY_DIR}/cli_nar_parallel_search.npz)
scanlab_cli_test(nar_help ARGS nar --help EXPECT "sample.*inspect.*stats.*list")
scanlab_cli_test(nar_sample ARGS nar sample --algorithm parallel_search --n 8 --count 3 --seed 5 --out ${NAR_NPZ}
                 EXPECT "wrote .*parallel_search, 3 samples, n = 9.*hint_leq_target \\[3, 1, 9\\]")
scanlab_cli_test(nar_inspect ARGS nar inspect ${NAR_NPZ} EXPECT "read .*parallel_search, 3 samples.*output_return \\[3\\] graph pointer")
set_tests_properties(cli.nar_sample PROPERTIES FIXTURES_SETUP nar_npz)
set_tests_properties(cli.nar_inspect PROPERTIES FIXTURES_REQUIRED nar_npz)
scanlab_cli_test(nar_sample_split ARGS nar sample --algorithm bubble_sort --split val --random-pos --enforce-permutations
                 --out ${PROJECT_BINARY_DIR}/cli_nar_bubble_val.npz EXPECT "32 samples, n = 16.*T mean 121.*output_pred_mask")
scanlab_cli_test(nar_unknown_algorithm ARGS nar sample --algorithm quicksort --out x.npz
                 FAIL_EXPECT "unknown algorithm 'quicksort'; known algorithms: binary_search")
scanlab_cli_test(nar_n_out_of_range ARGS nar sample --algorithm parallel_scc --n 2 --out x.npz FAIL_EXPECT "n = 2 is out of range; expected 4 <= n")
scanlab_cli_test(nar_unwritable ARGS nar sample --algorithm minimum --out /nonexistent-dir/x.npz FAIL_EXPECT "cannot write '/nonexistent-dir/x.npz'")
scanlab_cli_test(nar_split_and_n ARGS nar sample --algorithm minimum --split train --n 8 --out x.npz FAIL_EXPECT "excludes")
scanlab_cli_test(nar_inspect_not_npz ARGS nar inspect ${PROJECT_SOURCE_DIR}/CMakeLists.txt FAIL_EXPECT "CMakeLists.txt: not a .npz file")
scanlab_cli_test(nar_stats_small ARGS nar stats --n 8 --count 3 --algorithms bubble_sort,parallel_search
                 EXPECT "\\| bubble_sort \\| sort \\| sequential \\| 8 \\| 29.0 \\| 29 \\|.*\\| parallel_search \\| search \\| parallel \\| 8 \\| 1.0 \\| 1 \\| - \\| - \\|")
