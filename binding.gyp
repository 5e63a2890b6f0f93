{
  "targets": [
    {
      "target_name": "mean_fusion",
      "sources": ["native/mean.c", "native/stream.c", "native/window.c", "native/files.c", "native/binding.c", "native/binding-stream.c", "native/napi-args.c", "native/exact.c", "native/exact-finish.c", "native/binding-exact.c"],
      # half.c, half-fast.c and binding-half.c (float16/bfloat16), and writeback.c, join the sources here, so the list above stays as it is.
      "conditions": [["1==1", { "sources": ["native/half.c", "native/half-fast.c", "native/binding-half.c", "native/writeback.c"] }]],
      "cflags": ["-O3", "-std=c11", "-ffp-contract=off", "-fno-trapping-math", "-fno-fast-math", "-Wall", "-Wextra"],
      "cflags!": ["-O2"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O3", "-std=c11", "-ffp-contract=off"] },
      "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["/fp:precise"] } }
    }
  ]
}
