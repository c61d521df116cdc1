;; The replay head's two d × d loops (src/cli/eval/plain-head.ts), with WASM SIMD on f64 pairs.
;; Built into replay-wasm.ts by `npm run build:kernel`. Each does, element by element, the
;; operations of the plain loop in the same order, so the results are the same to the bit.
;;
;; `project`: q = h W₀ and hdW = h ΔW, summed over a in order (rows with h[a] = 0 skipped).
;;
;; `step`, the AdaGrad step on ΔW: for every a, k < d, with G = h ⊗ gq + λ ΔW (the gradient, never stored):
;;   g = G[a,k] · clip;  acc[a,k] += g²;  ΔW[a,k] -= η g / (√(acc[a,k] + a₀) + 1e-8)
;; in that order of operations, as the plain loop does, so ΔW and acc come out the same to the bit.
;; Returns ‖ΔW‖² after the step. d is even; every array is f64, row-major.
(module
  (import "env" "memory" (memory 1))
  (func (export "project") (param $w0 i32) (param $w i32) (param $h i32) (param $q i32) (param $hdw i32) (param $d i32)
    (local $a i32) (local $k i32) (local $x f64) (local $ha v128) (local $at i32) (local $qk i32) (local $wk i32)
    ;; q and hdW start at zero.
    (local.set $k (i32.const 0))
    (loop $zero
      (v128.store (i32.add (local.get $q) (i32.shl (local.get $k) (i32.const 3))) (v128.const f64x2 0 0))
      (v128.store (i32.add (local.get $hdw) (i32.shl (local.get $k) (i32.const 3))) (v128.const f64x2 0 0))
      (local.set $k (i32.add (local.get $k) (i32.const 2)))
      (br_if $zero (i32.lt_u (local.get $k) (local.get $d))))
    (loop $rows
      (local.set $x (f64.load (i32.add (local.get $h) (i32.shl (local.get $a) (i32.const 3)))))
      (if (f64.ne (local.get $x) (f64.const 0))
        (then
          (local.set $ha (f64x2.splat (local.get $x)))
          ;; Byte offset of row a.
          (local.set $at (i32.shl (i32.mul (local.get $a) (local.get $d)) (i32.const 3)))
          (local.set $k (i32.const 0))
          (loop $cols
            (local.set $qk (i32.add (local.get $q) (i32.shl (local.get $k) (i32.const 3))))
            (local.set $wk (i32.add (local.get $hdw) (i32.shl (local.get $k) (i32.const 3))))
            (v128.store (local.get $qk)
              (f64x2.add (v128.load (local.get $qk)) (f64x2.mul (local.get $ha) (v128.load (i32.add (local.get $w0) (local.get $at))))))
            (v128.store (local.get $wk)
              (f64x2.add (v128.load (local.get $wk)) (f64x2.mul (local.get $ha) (v128.load (i32.add (local.get $w) (local.get $at))))))
            (local.set $at (i32.add (local.get $at) (i32.const 16)))
            (local.set $k (i32.add (local.get $k) (i32.const 2)))
            (br_if $cols (i32.lt_u (local.get $k) (local.get $d))))))
      (local.set $a (i32.add (local.get $a) (i32.const 1)))
      (br_if $rows (i32.lt_u (local.get $a) (local.get $d)))))

  (func (export "step") (param $w i32) (param $acc i32) (param $h i32) (param $gq i32) (param $d i32)
    (param $lam f64) (param $clip f64) (param $eta f64) (param $a0 f64) (result f64)
    (local $a i32) (local $k i32) (local $ha v128) (local $g v128) (local $s v128) (local $nw v128)
    (local $sq v128) (local $lamv v128) (local $clipv v128) (local $etav v128) (local $eps v128) (local $a0v v128)
    (local.set $lamv (f64x2.splat (local.get $lam)))
    (local.set $clipv (f64x2.splat (local.get $clip)))
    (local.set $etav (f64x2.splat (local.get $eta)))
    (local.set $eps (f64x2.splat (f64.const 1e-8)))
    (local.set $a0v (f64x2.splat (local.get $a0)))
    (local.set $sq (v128.const f64x2 0 0))
    (loop $rows
      (local.set $ha (f64x2.splat (f64.load (i32.add (local.get $h) (i32.shl (local.get $a) (i32.const 3))))))
      (local.set $k (i32.const 0))
      (loop $cols
        ;; g = (h[a]·gq[k] + λ·ΔW[a,k]) · clip
        (local.set $g
          (f64x2.mul
            (f64x2.add
              (f64x2.mul (local.get $ha) (v128.load (i32.add (local.get $gq) (i32.shl (local.get $k) (i32.const 3)))))
              (f64x2.mul (local.get $lamv) (v128.load (local.get $w))))
            (local.get $clipv)))
        (local.set $s (f64x2.add (v128.load (local.get $acc)) (f64x2.mul (local.get $g) (local.get $g))))
        (v128.store (local.get $acc) (local.get $s))
        (local.set $nw
          (f64x2.sub (v128.load (local.get $w))
            (f64x2.div (f64x2.mul (local.get $etav) (local.get $g)) (f64x2.add (f64x2.sqrt (f64x2.add (local.get $s) (local.get $a0v))) (local.get $eps)))))
        (v128.store (local.get $w) (local.get $nw))
        (local.set $sq (f64x2.add (local.get $sq) (f64x2.mul (local.get $nw) (local.get $nw))))
        (local.set $w (i32.add (local.get $w) (i32.const 16)))
        (local.set $acc (i32.add (local.get $acc) (i32.const 16)))
        (local.set $k (i32.add (local.get $k) (i32.const 2)))
        (br_if $cols (i32.lt_u (local.get $k) (local.get $d))))
      (local.set $a (i32.add (local.get $a) (i32.const 1)))
      (br_if $rows (i32.lt_u (local.get $a) (local.get $d))))
    (f64.add (f64x2.extract_lane 0 (local.get $sq)) (f64x2.extract_lane 1 (local.get $sq)))))
