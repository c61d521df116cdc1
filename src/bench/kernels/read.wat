;; The benchmark's read floor (src/bench/page.ts): the least a WebAssembly SIMD pass can spend
;; reading bytes, here, with no work on them but one add per 16 bytes. Built into read-wasm.ts by
;; `npm run build:kernel`. Not shipped: the benchmark page alone loads it.
(module
  (import "env" "memory" (memory 1))
  ;; Sums the i32 lanes of [from, to) (`to − from` a multiple of 64), so that no read is dead code.
  (func (export "sum") (param $from i32) (param $to i32) (result i32)
    (local $a v128) (local $b v128) (local $p i32)
    (local.set $p (local.get $from))
    (block $done
      (loop $bytes
        (br_if $done (i32.ge_u (local.get $p) (local.get $to)))
        (local.set $a (i32x4.add (local.get $a) (v128.load offset=0 (local.get $p))))
        (local.set $b (i32x4.add (local.get $b) (v128.load offset=16 (local.get $p))))
        (local.set $a (i32x4.add (local.get $a) (v128.load offset=32 (local.get $p))))
        (local.set $b (i32x4.add (local.get $b) (v128.load offset=48 (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br $bytes)))
    (local.set $a (i32x4.add (local.get $a) (local.get $b)))
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $a)) (i32x4.extract_lane 1 (local.get $a)))
      (i32.add (i32x4.extract_lane 2 (local.get $a)) (i32x4.extract_lane 3 (local.get $a)))))
)
