;; Scoring kernel of the item matrix (src/core/item-matrix.ts): int8 item rows times an int16
;; query, with WASM SIMD. Built into score-wasm.ts by `npm run build:kernel`.
;;
;; score(i) = f32(Σₖ codes[i·d + k] · q[k]) · scale[i] · qs + bias[i]
;;
;; d is a multiple of 16. The integer sum is exact: |codes| ≤ 127, |q| ≤ 32767, d ≤ 256.
;;
;; It also makes those int8 rows from float32 ones (`quantise`, below): the same bytes as the
;; matrix's plain loop, about three times as fast (a first visit quantises every item's row).
(module
  (import "env" "memory" (memory 1))
  ;; Candidates written by the last call of `scan`.
  (global $count (export "count") (mut i32) (i32.const 0))

  ;; The integer dot product of row `row` (d int8) with the int16 query at `q`.
  (func $dot (param $row i32) (param $q i32) (param $d i32) (result i32)
    (local $acc v128) (local $c v128) (local $k i32)
    (local.set $acc (v128.const i32x4 0 0 0 0))
    (loop $dims
      (local.set $c (v128.load (i32.add (local.get $row) (local.get $k))))
      (local.set $acc
        (i32x4.add (local.get $acc)
          (i32x4.dot_i16x8_s
            (i16x8.extend_low_i8x16_s (local.get $c))
            (v128.load (i32.add (local.get $q) (i32.shl (local.get $k) (i32.const 1)))))))
      (local.set $acc
        (i32x4.add (local.get $acc)
          (i32x4.dot_i16x8_s
            (i16x8.extend_high_i8x16_s (local.get $c))
            (v128.load offset=16 (i32.add (local.get $q) (i32.shl (local.get $k) (i32.const 1)))))))
      (local.set $k (i32.add (local.get $k) (i32.const 16)))
      (br_if $dims (i32.lt_u (local.get $k) (local.get $d))))
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
      (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))

  (func $score (param $codes i32) (param $scales i32) (param $bias i32) (param $q i32) (param $d i32)
    (param $qs f32) (param $i i32) (result f32)
    (f32.add
      (f32.mul
        (f32.mul
          (f32.convert_i32_s
            (call $dot (i32.add (local.get $codes) (i32.mul (local.get $i) (local.get $d))) (local.get $q) (local.get $d)))
          (f32.load (i32.add (local.get $scales) (i32.shl (local.get $i) (i32.const 2)))))
        (local.get $qs))
      (f32.load (i32.add (local.get $bias) (i32.shl (local.get $i) (i32.const 2))))))

  ;; Scores rows [from, to) and writes (i32 row, f32 score) at `cand` for every score above `thr`,
  ;; in row order. Stops after `cap` of them. Returns the next row to score (`to` when done); the
  ;; number written is in `count`. A NaN score is never above `thr`.
  (func (export "scan") (param $codes i32) (param $scales i32) (param $bias i32) (param $q i32) (param $d i32)
    (param $qs f32) (param $from i32) (param $to i32) (param $thr f32) (param $cand i32) (param $cap i32)
    (result i32)
    (local $i i32) (local $n i32) (local $s f32) (local $at i32)
    (local.set $i (local.get $from))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $to)))
        (local.set $s
          (call $score (local.get $codes) (local.get $scales) (local.get $bias) (local.get $q) (local.get $d)
            (local.get $qs) (local.get $i)))
        (if (f32.gt (local.get $s) (local.get $thr))
          (then
            (local.set $at (i32.add (local.get $cand) (i32.shl (local.get $n) (i32.const 3))))
            (i32.store (local.get $at) (local.get $i))
            (f32.store offset=4 (local.get $at) (local.get $s))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (if (i32.ge_u (local.get $n) (local.get $cap))
              (then
                (global.set $count (local.get $n))
                (return (i32.add (local.get $i) (i32.const 1)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows)))
    (global.set $count (local.get $n))
    (local.get $to))

  ;; `scan` for d = 64 (the shipped encoder's width): the query held in registers, no inner loop,
  ;; rows four at a time (their sums reduced together, scaled, biased and compared with the
  ;; threshold as one f32x4: the same float operations as one row at a time), then the last rows
  ;; one at a time.
  (func (export "scan64") (param $codes i32) (param $scales i32) (param $bias i32) (param $q i32)
    (param $qs f32) (param $from i32) (param $to i32) (param $thr f32) (param $cand i32) (param $cap i32)
    (result i32)
    (local $i i32) (local $n i32) (local $s f32) (local $at i32) (local $row i32)
    (local $q0 v128) (local $q1 v128) (local $q2 v128) (local $q3 v128)
    (local $q4 v128) (local $q5 v128) (local $q6 v128) (local $q7 v128)
    (local $c v128) (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
    (local $sc v128) (local $vqs v128) (local $vthr v128)
    (local.set $q0 (v128.load offset=0 (local.get $q)))
    (local.set $q1 (v128.load offset=16 (local.get $q)))
    (local.set $q2 (v128.load offset=32 (local.get $q)))
    (local.set $q3 (v128.load offset=48 (local.get $q)))
    (local.set $q4 (v128.load offset=64 (local.get $q)))
    (local.set $q5 (v128.load offset=80 (local.get $q)))
    (local.set $q6 (v128.load offset=96 (local.get $q)))
    (local.set $q7 (v128.load offset=112 (local.get $q)))
    (local.set $vqs (f32x4.splat (local.get $qs)))
    (local.set $vthr (f32x4.splat (local.get $thr)))
    (local.set $i (local.get $from))
    (local.set $row (i32.add (local.get $codes) (i32.shl (local.get $from) (i32.const 6))))
    (block $done4
      (loop $rows4
        (br_if $done4 (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $to)))
        (local.set $c (v128.load offset=0 (local.get $row)))
        (local.set $r0 (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $c)) (local.get $q0))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $c)) (local.get $q1))))
        (local.set $c (v128.load offset=16 (local.get $row)))
        (local.set $r0 (i32x4.add (local.get $r0) (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $c)) (local.get $q2))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $c)) (local.get $q3)))))
        (local.set $c (v128.load offset=32 (local.get $row)))
        (local.set $r0 (i32x4.add (local.get $r0) (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $c)) (local.get $q4))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $c)) (local.get $q5)))))
        (local.set $c (v128.load offset=48 (local.get $row)))
        (local.set $r0 (i32x4.add (local.get $r0) (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $c)) (local.get $q6))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $c)) (local.get $q7)))))
        (local.set $c (v128.load offset=64 (local.get $row)))
        (local.set $r1 (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $c)) (local.get $q0))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $c)) (local.get $q1))))
        (local.set $c (v128.load offset=80 (local.get $row)))
        (local.set $r1 (i32x4.add (local.get $r1) (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $c)) (local.get $q2))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $c)) (local.get $q3)))))
        (local.set $c (v128.load offset=96 (local.get $row)))
        (local.set $r1 (i32x4.add (local.get $r1) (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $c)) (local.get $q4))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $c)) (local.get $q5)))))
        (local.set $c (v128.load offset=112 (local.get $row)))
        (local.set $r1 (i32x4.add (local.get $r1) (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $c)) (local.get $q6))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $c)) (local.get $q7)))))
        (local.set $c (v128.load offset=128 (local.get $row)))
        (local.set $r2 (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $c)) (local.get $q0))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $c)) (local.get $q1))))
        (local.set $c (v128.load offset=144 (local.get $row)))
        (local.set $r2 (i32x4.add (local.get $r2) (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $c)) (local.get $q2))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $c)) (local.get $q3)))))
        (local.set $c (v128.load offset=160 (local.get $row)))
        (local.set $r2 (i32x4.add (local.get $r2) (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $c)) (local.get $q4))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $c)) (local.get $q5)))))
        (local.set $c (v128.load offset=176 (local.get $row)))
        (local.set $r2 (i32x4.add (local.get $r2) (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $c)) (local.get $q6))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $c)) (local.get $q7)))))
        (local.set $c (v128.load offset=192 (local.get $row)))
        (local.set $r3 (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $c)) (local.get $q0))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $c)) (local.get $q1))))
        (local.set $c (v128.load offset=208 (local.get $row)))
        (local.set $r3 (i32x4.add (local.get $r3) (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $c)) (local.get $q2))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $c)) (local.get $q3)))))
        (local.set $c (v128.load offset=224 (local.get $row)))
        (local.set $r3 (i32x4.add (local.get $r3) (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $c)) (local.get $q4))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $c)) (local.get $q5)))))
        (local.set $c (v128.load offset=240 (local.get $row)))
        (local.set $r3 (i32x4.add (local.get $r3) (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $c)) (local.get $q6))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $c)) (local.get $q7)))))
        ;; Transposed and added: [Σ r0, Σ r1, Σ r2, Σ r3].
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
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $to)))
        (local.set $c (v128.load offset=0 (local.get $row)))
        (local.set $r0 (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $c)) (local.get $q0))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $c)) (local.get $q1))))
        (local.set $c (v128.load offset=16 (local.get $row)))
        (local.set $r0 (i32x4.add (local.get $r0) (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $c)) (local.get $q2))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $c)) (local.get $q3)))))
        (local.set $c (v128.load offset=32 (local.get $row)))
        (local.set $r0 (i32x4.add (local.get $r0) (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $c)) (local.get $q4))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $c)) (local.get $q5)))))
        (local.set $c (v128.load offset=48 (local.get $row)))
        (local.set $r0 (i32x4.add (local.get $r0) (i32x4.add
          (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $c)) (local.get $q6))
          (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $c)) (local.get $q7)))))
        ;; horizontal sum by shuffles
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

  ;; Writes the scores of rows [from, to) as f32 at `out` (out[0] is row `from`).
  (func (export "dense") (param $codes i32) (param $scales i32) (param $bias i32) (param $q i32) (param $d i32)
    (param $qs f32) (param $from i32) (param $to i32) (param $out i32)
    (local $i i32)
    (local.set $i (local.get $from))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $i) (local.get $to)))
        (f32.store
          (i32.add (local.get $out) (i32.shl (i32.sub (local.get $i) (local.get $from)) (i32.const 2)))
          (call $score (local.get $codes) (local.get $scales) (local.get $bias) (local.get $q) (local.get $d)
            (local.get $qs) (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows))))

  ;; Quantises `rows` float32 rows of d values at `src` into int8 rows at `codes` (row r at
  ;; codes + r·d) and their scales at `scales` (float32), as ItemMatrix.setRows does in its plain
  ;; loop, to the bit: m = max|x|; a row holding a NaN or ±∞ gets codes 0 and a NaN scale, a row
  ;; of zeros codes 0 and scale 0; otherwise code = round(x · (127 / m)), the product in float64
  ;; and halves rounded up (as Math.round: floor(y) + (y − floor(y) ≥ 0.5), exact for |y| ≤ 128),
  ;; and scale = f32(m / 127). d is a multiple of 16.
  (func (export "quantise") (param $src i32) (param $rows i32) (param $d i32) (param $codes i32) (param $scales i32)
    (local $r i32) (local $p i32) (local $end i32) (local $out i32) (local $k i32)
    (local $mx v128) (local $m f32) (local $inv v128) (local $v v128)
    (local $a v128) (local $b v128) (local $c v128) (local $e v128)
    (local $y v128) (local $f v128) (local $lo v128) (local $hi v128)
    (local $half v128) (local $one v128)
    (local.set $half (v128.const f64x2 0.5 0.5))
    (local.set $one (v128.const f64x2 1 1))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $p (i32.add (local.get $src) (i32.shl (i32.mul (local.get $r) (local.get $d)) (i32.const 2))))
        (local.set $end (i32.add (local.get $p) (i32.shl (local.get $d) (i32.const 2))))
        (local.set $out (i32.add (local.get $codes) (i32.mul (local.get $r) (local.get $d))))
        ;; m: the largest |x| (f32x4.max passes a NaN on).
        (local.set $mx (v128.const f32x4 0 0 0 0))
        (local.set $k (local.get $p))
        (loop $max
          (local.set $mx (f32x4.max (local.get $mx) (f32x4.abs (v128.load (local.get $k)))))
          (local.set $k (i32.add (local.get $k) (i32.const 16)))
          (br_if $max (i32.lt_u (local.get $k) (local.get $end))))
        (local.set $m
          (f32.max
            (f32.max (f32x4.extract_lane 0 (local.get $mx)) (f32x4.extract_lane 1 (local.get $mx)))
            (f32.max (f32x4.extract_lane 2 (local.get $mx)) (f32x4.extract_lane 3 (local.get $mx)))))
        (if (i32.or (f32.ne (local.get $m) (local.get $m)) (i32.or (f32.eq (local.get $m) (f32.const inf)) (f32.eq (local.get $m) (f32.const 0))))
          (then
            (memory.fill (local.get $out) (i32.const 0) (local.get $d))
            (f32.store (i32.add (local.get $scales) (i32.shl (local.get $r) (i32.const 2)))
              (select (f32.const 0) (f32.const nan) (f32.eq (local.get $m) (f32.const 0)))))
          (else
            (local.set $inv (f64x2.splat (f64.div (f64.const 127) (f64.promote_f32 (local.get $m)))))
            (local.set $k (local.get $p))
            (loop $quant
              ;; 16 values, four at a time: two pairs in float64, each y rounded as Math.round
              ;; (floor(y), plus 1 where y − floor(y) ≥ 0.5), then narrowed to 16 int8.
              (local.set $v (v128.load offset=0 (local.get $k)))
              (local.set $y (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (local.get $inv)))
              (local.set $f (f64x2.floor (local.get $y)))
              (local.set $lo (i32x4.trunc_sat_f64x2_s_zero (f64x2.add (local.get $f) (v128.and (f64x2.ge (f64x2.sub (local.get $y) (local.get $f)) (local.get $half)) (local.get $one)))))
              (local.set $y (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v))) (local.get $inv)))
              (local.set $f (f64x2.floor (local.get $y)))
              (local.set $hi (i32x4.trunc_sat_f64x2_s_zero (f64x2.add (local.get $f) (v128.and (f64x2.ge (f64x2.sub (local.get $y) (local.get $f)) (local.get $half)) (local.get $one)))))
              (local.set $a (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $lo) (local.get $hi)))
              (local.set $v (v128.load offset=16 (local.get $k)))
              (local.set $y (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (local.get $inv)))
              (local.set $f (f64x2.floor (local.get $y)))
              (local.set $lo (i32x4.trunc_sat_f64x2_s_zero (f64x2.add (local.get $f) (v128.and (f64x2.ge (f64x2.sub (local.get $y) (local.get $f)) (local.get $half)) (local.get $one)))))
              (local.set $y (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v))) (local.get $inv)))
              (local.set $f (f64x2.floor (local.get $y)))
              (local.set $hi (i32x4.trunc_sat_f64x2_s_zero (f64x2.add (local.get $f) (v128.and (f64x2.ge (f64x2.sub (local.get $y) (local.get $f)) (local.get $half)) (local.get $one)))))
              (local.set $b (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $lo) (local.get $hi)))
              (local.set $v (v128.load offset=32 (local.get $k)))
              (local.set $y (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (local.get $inv)))
              (local.set $f (f64x2.floor (local.get $y)))
              (local.set $lo (i32x4.trunc_sat_f64x2_s_zero (f64x2.add (local.get $f) (v128.and (f64x2.ge (f64x2.sub (local.get $y) (local.get $f)) (local.get $half)) (local.get $one)))))
              (local.set $y (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v))) (local.get $inv)))
              (local.set $f (f64x2.floor (local.get $y)))
              (local.set $hi (i32x4.trunc_sat_f64x2_s_zero (f64x2.add (local.get $f) (v128.and (f64x2.ge (f64x2.sub (local.get $y) (local.get $f)) (local.get $half)) (local.get $one)))))
              (local.set $c (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $lo) (local.get $hi)))
              (local.set $v (v128.load offset=48 (local.get $k)))
              (local.set $y (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (local.get $inv)))
              (local.set $f (f64x2.floor (local.get $y)))
              (local.set $lo (i32x4.trunc_sat_f64x2_s_zero (f64x2.add (local.get $f) (v128.and (f64x2.ge (f64x2.sub (local.get $y) (local.get $f)) (local.get $half)) (local.get $one)))))
              (local.set $y (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v))) (local.get $inv)))
              (local.set $f (f64x2.floor (local.get $y)))
              (local.set $hi (i32x4.trunc_sat_f64x2_s_zero (f64x2.add (local.get $f) (v128.and (f64x2.ge (f64x2.sub (local.get $y) (local.get $f)) (local.get $half)) (local.get $one)))))
              (local.set $e (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $lo) (local.get $hi)))
              (v128.store (local.get $out)
                (i8x16.narrow_i16x8_s
                  (i16x8.narrow_i32x4_s (local.get $a) (local.get $b))
                  (i16x8.narrow_i32x4_s (local.get $c) (local.get $e))))
              (local.set $out (i32.add (local.get $out) (i32.const 16)))
              (local.set $k (i32.add (local.get $k) (i32.const 64)))
              (br_if $quant (i32.lt_u (local.get $k) (local.get $end))))
            (f32.store (i32.add (local.get $scales) (i32.shl (local.get $r) (i32.const 2)))
              (f32.demote_f64 (f64.div (f64.promote_f32 (local.get $m)) (f64.const 127))))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $each))))
)
