;; The scoring kernel's pass for d = 64 with relaxed WebAssembly SIMD (src/core/item-matrix.ts):
;; the same scores as `scan64` in score.wat, bit for bit, in fewer instructions: its int8 dot
;; product needs no widening to int16, and rows are taken four at a time, their sums reduced, scaled
;; and compared with the threshold as one vector (a row's own epilogue only when one beats it). Built
;; into score-relaxed-wasm.ts by `npm run build:kernel`. A runtime without relaxed SIMD fails to
;; compile it, and the item matrix keeps score.wat's pass.
;;
;; The query Q (int16 in score.wat, |Q| ≤ 8191 here and there) is held as two unsigned 7-bit
;; halves, Q + 8192 = 128·hi + lo with hi, lo in [0, 127], which is what the relaxed int8 dot
;; product takes as its second operand with a result every runtime agrees on. Then
;;   Σₖ cₖ·Qₖ = 128·(Σ cₖ·hiₖ − 64·Σ cₖ) + Σ cₖ·loₖ,
;; all in exact i32 arithmetic (|Σ cₖ·hiₖ| ≤ 64·128·127), so the integer sum is the one score.wat
;; computes, and the float operations after it are the same.
(module
  (import "env" "memory" (memory 1))
  ;; Candidates written by the last call of `scan64`.
  (global $count (export "count") (mut i32) (i32.const 0))

  ;; Rows [from, to) of d = 64 int8 codes; `hi` and `lo` are the query's 64 + 64 unsigned bytes.
  ;; Writes (i32 row, f32 score) at `cand` for every score above `thr`, in row order, and stops
  ;; after `cap` of them. Returns the next row to score (`to` when done); the number written is in
  ;; `count`. A NaN score is never above `thr`.
  (func (export "scan64") (param $codes i32) (param $scales i32) (param $bias i32) (param $hi i32) (param $lo i32)
    (param $qs f32) (param $from i32) (param $to i32) (param $thr f32) (param $cand i32) (param $cap i32)
    (result i32)
    (local $i i32) (local $n i32) (local $s f32) (local $at i32) (local $row i32)
    (local $h0 v128) (local $h1 v128) (local $h2 v128) (local $h3 v128)
    (local $l0 v128) (local $l1 v128) (local $l2 v128) (local $l3 v128)
    (local $one v128) (local $c v128) (local $ah v128) (local $al v128) (local $a1 v128)
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128) (local $sc v128) (local $vqs v128) (local $vthr v128)
    (local.set $h0 (v128.load offset=0 (local.get $hi)))
    (local.set $h1 (v128.load offset=16 (local.get $hi)))
    (local.set $h2 (v128.load offset=32 (local.get $hi)))
    (local.set $h3 (v128.load offset=48 (local.get $hi)))
    (local.set $l0 (v128.load offset=0 (local.get $lo)))
    (local.set $l1 (v128.load offset=16 (local.get $lo)))
    (local.set $l2 (v128.load offset=32 (local.get $lo)))
    (local.set $l3 (v128.load offset=48 (local.get $lo)))
    (local.set $one (i8x16.splat (i32.const 1)))
    (local.set $vqs (f32x4.splat (local.get $qs)))
    (local.set $vthr (f32x4.splat (local.get $thr)))
    (local.set $i (local.get $from))
    (local.set $row (i32.add (local.get $codes) (i32.shl (local.get $from) (i32.const 6))))
    ;; Four rows at a time: each row's lanes hold 128·(hi − 64·ones) + lo partial sums.
    (block $done4
      (loop $rows4
        (br_if $done4 (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $to)))
        (local.set $c (v128.load offset=0 (local.get $row)))
        (local.set $ah (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $h0) (v128.const i32x4 0 0 0 0)))
        (local.set $al (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $l0) (v128.const i32x4 0 0 0 0)))
        (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $one) (v128.const i32x4 0 0 0 0)))
        (local.set $c (v128.load offset=16 (local.get $row)))
        (local.set $ah (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $h1) (local.get $ah)))
        (local.set $al (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $l1) (local.get $al)))
        (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $one) (local.get $a1)))
        (local.set $c (v128.load offset=32 (local.get $row)))
        (local.set $ah (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $h2) (local.get $ah)))
        (local.set $al (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $l2) (local.get $al)))
        (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $one) (local.get $a1)))
        (local.set $c (v128.load offset=48 (local.get $row)))
        (local.set $ah (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $h3) (local.get $ah)))
        (local.set $al (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $l3) (local.get $al)))
        (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $one) (local.get $a1)))
        (local.set $r0 (i32x4.add
          (i32x4.shl (i32x4.sub (local.get $ah) (i32x4.shl (local.get $a1) (i32.const 6))) (i32.const 7))
          (local.get $al)))
        (local.set $c (v128.load offset=64 (local.get $row)))
        (local.set $ah (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $h0) (v128.const i32x4 0 0 0 0)))
        (local.set $al (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $l0) (v128.const i32x4 0 0 0 0)))
        (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $one) (v128.const i32x4 0 0 0 0)))
        (local.set $c (v128.load offset=80 (local.get $row)))
        (local.set $ah (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $h1) (local.get $ah)))
        (local.set $al (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $l1) (local.get $al)))
        (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $one) (local.get $a1)))
        (local.set $c (v128.load offset=96 (local.get $row)))
        (local.set $ah (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $h2) (local.get $ah)))
        (local.set $al (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $l2) (local.get $al)))
        (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $one) (local.get $a1)))
        (local.set $c (v128.load offset=112 (local.get $row)))
        (local.set $ah (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $h3) (local.get $ah)))
        (local.set $al (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $l3) (local.get $al)))
        (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $one) (local.get $a1)))
        (local.set $r1 (i32x4.add
          (i32x4.shl (i32x4.sub (local.get $ah) (i32x4.shl (local.get $a1) (i32.const 6))) (i32.const 7))
          (local.get $al)))
        (local.set $c (v128.load offset=128 (local.get $row)))
        (local.set $ah (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $h0) (v128.const i32x4 0 0 0 0)))
        (local.set $al (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $l0) (v128.const i32x4 0 0 0 0)))
        (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $one) (v128.const i32x4 0 0 0 0)))
        (local.set $c (v128.load offset=144 (local.get $row)))
        (local.set $ah (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $h1) (local.get $ah)))
        (local.set $al (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $l1) (local.get $al)))
        (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $one) (local.get $a1)))
        (local.set $c (v128.load offset=160 (local.get $row)))
        (local.set $ah (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $h2) (local.get $ah)))
        (local.set $al (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $l2) (local.get $al)))
        (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $one) (local.get $a1)))
        (local.set $c (v128.load offset=176 (local.get $row)))
        (local.set $ah (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $h3) (local.get $ah)))
        (local.set $al (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $l3) (local.get $al)))
        (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $one) (local.get $a1)))
        (local.set $r2 (i32x4.add
          (i32x4.shl (i32x4.sub (local.get $ah) (i32x4.shl (local.get $a1) (i32.const 6))) (i32.const 7))
          (local.get $al)))
        (local.set $c (v128.load offset=192 (local.get $row)))
        (local.set $ah (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $h0) (v128.const i32x4 0 0 0 0)))
        (local.set $al (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $l0) (v128.const i32x4 0 0 0 0)))
        (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $one) (v128.const i32x4 0 0 0 0)))
        (local.set $c (v128.load offset=208 (local.get $row)))
        (local.set $ah (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $h1) (local.get $ah)))
        (local.set $al (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $l1) (local.get $al)))
        (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $one) (local.get $a1)))
        (local.set $c (v128.load offset=224 (local.get $row)))
        (local.set $ah (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $h2) (local.get $ah)))
        (local.set $al (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $l2) (local.get $al)))
        (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $one) (local.get $a1)))
        (local.set $c (v128.load offset=240 (local.get $row)))
        (local.set $ah (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $h3) (local.get $ah)))
        (local.set $al (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $l3) (local.get $al)))
        (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $one) (local.get $a1)))
        (local.set $r3 (i32x4.add
          (i32x4.shl (i32x4.sub (local.get $ah) (i32x4.shl (local.get $a1) (i32.const 6))) (i32.const 7))
          (local.get $al)))
        ;; Transposed and added: [Σ r0, Σ r1, Σ r2, Σ r3], then scaled and biased as one vector.
        (local.set $r0 (i32x4.add
          (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r0) (local.get $r1))
          (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r0) (local.get $r1))))
        (local.set $r2 (i32x4.add
          (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r2) (local.get $r3))
          (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r2) (local.get $r3))))
        (local.set $r0 (i32x4.add
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $r0) (local.get $r2))
          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $r0) (local.get $r2))))
        (local.set $sc (f32x4.add
          (f32x4.mul (f32x4.mul (f32x4.convert_i32x4_s (local.get $r0))
                                (v128.load (i32.add (local.get $scales) (i32.shl (local.get $i) (i32.const 2)))))
                     (local.get $vqs))
          (v128.load (i32.add (local.get $bias) (i32.shl (local.get $i) (i32.const 2))))))
        (if (v128.any_true (f32x4.gt (local.get $sc) (local.get $vthr)))
          (then
            (local.set $s (f32x4.extract_lane 0 (local.get $sc)))
            (if (f32.gt (local.get $s) (local.get $thr))
              (then
                (local.set $at (i32.add (local.get $cand) (i32.shl (local.get $n) (i32.const 3))))
                (i32.store (local.get $at) (i32.add (local.get $i) (i32.const 0)))
                (f32.store offset=4 (local.get $at) (local.get $s))
                (local.set $n (i32.add (local.get $n) (i32.const 1)))
                (if (i32.ge_u (local.get $n) (local.get $cap))
                  (then
                    (global.set $count (local.get $n))
                    (return (i32.add (local.get $i) (i32.const 1)))))))
            (local.set $s (f32x4.extract_lane 1 (local.get $sc)))
            (if (f32.gt (local.get $s) (local.get $thr))
              (then
                (local.set $at (i32.add (local.get $cand) (i32.shl (local.get $n) (i32.const 3))))
                (i32.store (local.get $at) (i32.add (local.get $i) (i32.const 1)))
                (f32.store offset=4 (local.get $at) (local.get $s))
                (local.set $n (i32.add (local.get $n) (i32.const 1)))
                (if (i32.ge_u (local.get $n) (local.get $cap))
                  (then
                    (global.set $count (local.get $n))
                    (return (i32.add (local.get $i) (i32.const 2)))))))
            (local.set $s (f32x4.extract_lane 2 (local.get $sc)))
            (if (f32.gt (local.get $s) (local.get $thr))
              (then
                (local.set $at (i32.add (local.get $cand) (i32.shl (local.get $n) (i32.const 3))))
                (i32.store (local.get $at) (i32.add (local.get $i) (i32.const 2)))
                (f32.store offset=4 (local.get $at) (local.get $s))
                (local.set $n (i32.add (local.get $n) (i32.const 1)))
                (if (i32.ge_u (local.get $n) (local.get $cap))
                  (then
                    (global.set $count (local.get $n))
                    (return (i32.add (local.get $i) (i32.const 3)))))))
            (local.set $s (f32x4.extract_lane 3 (local.get $sc)))
            (if (f32.gt (local.get $s) (local.get $thr))
              (then
                (local.set $at (i32.add (local.get $cand) (i32.shl (local.get $n) (i32.const 3))))
                (i32.store (local.get $at) (i32.add (local.get $i) (i32.const 3)))
                (f32.store offset=4 (local.get $at) (local.get $s))
                (local.set $n (i32.add (local.get $n) (i32.const 1)))
                (if (i32.ge_u (local.get $n) (local.get $cap))
                  (then
                    (global.set $count (local.get $n))
                    (return (i32.add (local.get $i) (i32.const 4)))))))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (local.set $row (i32.add (local.get $row) (i32.const 256)))
        (br $rows4)))
    ;; The last rows, one at a time.
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $to)))
        (local.set $c (v128.load offset=0 (local.get $row)))
        (local.set $ah (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $h0) (v128.const i32x4 0 0 0 0)))
        (local.set $al (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $l0) (v128.const i32x4 0 0 0 0)))
        (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $one) (v128.const i32x4 0 0 0 0)))
        (local.set $c (v128.load offset=16 (local.get $row)))
        (local.set $ah (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $h1) (local.get $ah)))
        (local.set $al (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $l1) (local.get $al)))
        (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $one) (local.get $a1)))
        (local.set $c (v128.load offset=32 (local.get $row)))
        (local.set $ah (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $h2) (local.get $ah)))
        (local.set $al (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $l2) (local.get $al)))
        (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $one) (local.get $a1)))
        (local.set $c (v128.load offset=48 (local.get $row)))
        (local.set $ah (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $h3) (local.get $ah)))
        (local.set $al (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $l3) (local.get $al)))
        (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $c) (local.get $one) (local.get $a1)))
        (local.set $r0 (i32x4.add
          (i32x4.shl (i32x4.sub (local.get $ah) (i32x4.shl (local.get $a1) (i32.const 6))) (i32.const 7))
          (local.get $al)))
        (local.set $r0 (i32x4.add (local.get $r0) (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $r0) (local.get $r0))))
        (local.set $r0 (i32x4.add (local.get $r0) (i8x16.shuffle 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 (local.get $r0) (local.get $r0))))
        (local.set $s (f32.add
          (f32.mul (f32.mul (f32.convert_i32_s (i32x4.extract_lane 0 (local.get $r0)))
                        (f32.load (i32.add (local.get $scales) (i32.shl (local.get $i) (i32.const 2)))))
               (local.get $qs))
          (f32.load (i32.add (local.get $bias) (i32.shl (local.get $i) (i32.const 2))))))
        (if (f32.gt (local.get $s) (local.get $thr))
          (then
            (local.set $at (i32.add (local.get $cand) (i32.shl (local.get $n) (i32.const 3))))
            (i32.store (local.get $at) (i32.add (local.get $i) (i32.const 0)))
            (f32.store offset=4 (local.get $at) (local.get $s))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (if (i32.ge_u (local.get $n) (local.get $cap))
              (then
                (global.set $count (local.get $n))
                (return (i32.add (local.get $i) (i32.const 1)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (local.set $row (i32.add (local.get $row) (i32.const 64)))
        (br $rows)))
    (global.set $count (local.get $n))
    (local.get $to))
)
