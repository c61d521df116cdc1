;; Digest kernel of the catalogue file (src/core/digest.ts): a 64-bit digest that tells one version
;; of a file from the next, not a cryptographic one. Built into digest-wasm.ts by
;; `npm run build:kernel`.
;;
;; The file is read as little-endian 64-bit words, 8 to a 64-byte block; word j of every block
;; goes to lane j, and each lane takes each of its words by one round
;;   lane = rotl(lane + word · P2, 31) · P1                       (all mod 2⁶⁴)
;; A last partial block is padded with zeros. The lanes are then merged, the file's length added
;; and the bits mixed (the `final` function below). The constants are those of the xxHash64
;; design; the lanes' seeds are P5 + j · P1.
;;
;; Memory: the 8 lanes at 0 (64 bytes), the window of blocks to take at 1024 (at most 1 MiB).
(module
  (memory (export "memory") 17)

  (func (export "init")
    (v128.store offset=0 (i32.const 0) (v128.const i64x2 0x27d4eb2f165667c5 0xc60c64e09c42324c))
    (v128.store offset=16 (i32.const 0) (v128.const i64x2 0x6443de92222dfcd3 0x027b5843a819c75a))
    (v128.store offset=32 (i32.const 0) (v128.const i64x2 0xa0b2d1f52e0591e1 0x3eea4ba6b3f15c68))
    (v128.store offset=48 (i32.const 0) (v128.const i64x2 0xdd21c55839dd26ef 0x7b593f09bfc8f176)))

  ;; One round on two lanes at once.
  (func $round2 (param $acc v128) (param $x v128) (result v128)
    (local.set $acc
      (i64x2.add (local.get $acc) (i64x2.mul (local.get $x) (v128.const i64x2 0xc2b2ae3d27d4eb4f 0xc2b2ae3d27d4eb4f))))
    (i64x2.mul
      (v128.or (i64x2.shl (local.get $acc) (i32.const 31)) (i64x2.shr_u (local.get $acc) (i32.const 33)))
      (v128.const i64x2 0x9e3779b185ebca87 0x9e3779b185ebca87)))

  ;; Takes the `len` bytes of the window (a multiple of 64).
  (func (export "update") (param $len i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $p i32) (local $end i32)
    (local.set $a0 (v128.load offset=0 (i32.const 0)))
    (local.set $a1 (v128.load offset=16 (i32.const 0)))
    (local.set $a2 (v128.load offset=32 (i32.const 0)))
    (local.set $a3 (v128.load offset=48 (i32.const 0)))
    (local.set $p (i32.const 1024))
    (local.set $end (i32.add (i32.const 1024) (local.get $len)))
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $a0 (call $round2 (local.get $a0) (v128.load offset=0 (local.get $p))))
        (local.set $a1 (call $round2 (local.get $a1) (v128.load offset=16 (local.get $p))))
        (local.set $a2 (call $round2 (local.get $a2) (v128.load offset=32 (local.get $p))))
        (local.set $a3 (call $round2 (local.get $a3) (v128.load offset=48 (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br $blocks)))
    (v128.store offset=0 (i32.const 0) (local.get $a0))
    (v128.store offset=16 (i32.const 0) (local.get $a1))
    (v128.store offset=32 (i32.const 0) (local.get $a2))
    (v128.store offset=48 (i32.const 0) (local.get $a3)))

  (func $lane (param $j i32) (result i64)
    (i64.load (i32.shl (local.get $j) (i32.const 3))))

  ;; h = (h xor rotl(lane · P2, 31) · P1) · P1 + P4
  (func $merge (param $h i64) (param $lane i64) (result i64)
    (i64.add
      (i64.mul
        (i64.xor (local.get $h)
          (i64.mul (i64.rotl (i64.mul (local.get $lane) (i64.const 0xc2b2ae3d27d4eb4f)) (i64.const 31))
            (i64.const 0x9e3779b185ebca87)))
        (i64.const 0x9e3779b185ebca87))
      (i64.const 0x85ebca77c2b2ae63)))

  ;; The digest of a file of `length` bytes whose blocks were all taken.
  (func (export "final") (param $length i64) (result i64)
    (local $h i64) (local $j i32)
    (local.set $h
      (i64.add
        (i64.add
          (i64.add (i64.rotl (call $lane (i32.const 0)) (i64.const 1)) (i64.rotl (call $lane (i32.const 1)) (i64.const 7)))
          (i64.add (i64.rotl (call $lane (i32.const 2)) (i64.const 12)) (i64.rotl (call $lane (i32.const 3)) (i64.const 18))))
        (i64.add
          (i64.add (i64.rotl (call $lane (i32.const 4)) (i64.const 23)) (i64.rotl (call $lane (i32.const 5)) (i64.const 29)))
          (i64.add (i64.rotl (call $lane (i32.const 6)) (i64.const 37)) (i64.rotl (call $lane (i32.const 7)) (i64.const 43))))))
    (loop $lanes
      (local.set $h (call $merge (local.get $h) (call $lane (local.get $j))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br_if $lanes (i32.lt_u (local.get $j) (i32.const 8))))
    (local.set $h (i64.add (local.get $h) (local.get $length)))
    (local.set $h (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 33))))
    (local.set $h (i64.mul (local.get $h) (i64.const 0xc2b2ae3d27d4eb4f)))
    (local.set $h (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 29))))
    (local.set $h (i64.mul (local.get $h) (i64.const 0x165667b19e3779f9)))
    (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 32))))
)
