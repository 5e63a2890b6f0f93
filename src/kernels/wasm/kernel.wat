;; SIMD accumulation kernels for mean fusion (WebAssembly, 128-bit SIMD).
;;
;; Every function works on byte addresses inside this module's memory, which the
;; host uses as a staging area: the host copies a block of each input into the
;; memory, calls these functions, and copies the finished block out. Counts are
;; in elements; the host rounds them up to an even number (two f64 lanes), so a
;; trailing lane may hold garbage that the host never reads back.
;;
;; Summation order per element is the input order, and each lane does exactly
;; the IEEE-754 operations of the scalar JavaScript kernel, so results are
;; bitwise identical to it.
(module
  (memory (export "memory") 1)

  ;; dst[i] = f64(src[i]) for float32 src.
  (func (export "promote_f32") (param $dst i32) (param $src i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 3))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
      (v128.store (local.get $dst) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $src))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $src (i32.add (local.get $src) (i32.const 8)))
      (br $next))))

  ;; acc[i] += x[i] for float64 x.
  (func (export "add_f64") (param $acc i32) (param $x i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $acc) (i32.shl (local.get $n) (i32.const 3))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $acc) (local.get $end)))
      (v128.store (local.get $acc)
        (f64x2.add (v128.load (local.get $acc)) (v128.load (local.get $x))))
      (local.set $acc (i32.add (local.get $acc) (i32.const 16)))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (br $next))))

  ;; acc[i] += f64(x[i]) for float32 x.
  (func (export "add_f32") (param $acc i32) (param $x i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $acc) (i32.shl (local.get $n) (i32.const 3))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $acc) (local.get $end)))
      (v128.store (local.get $acc)
        (f64x2.add (v128.load (local.get $acc))
          (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $x)))))
      (local.set $acc (i32.add (local.get $acc) (i32.const 16)))
      (local.set $x (i32.add (local.get $x) (i32.const 8)))
      (br $next))))

  ;; Compensated step (Knuth's TwoSum): t = s + v, e = (s - (t - z)) + (v - z)
  ;; with z = t - s; s <- t, c <- c + e.
  (func $two_sum (param $acc i32) (param $cmp i32) (param $v v128)
    (local $s v128) (local $t v128) (local $z v128)
    (local.set $s (v128.load (local.get $acc)))
    (local.set $t (f64x2.add (local.get $s) (local.get $v)))
    (local.set $z (f64x2.sub (local.get $t) (local.get $s)))
    (v128.store (local.get $cmp)
      (f64x2.add (v128.load (local.get $cmp))
        (f64x2.add
          (f64x2.sub (local.get $s) (f64x2.sub (local.get $t) (local.get $z)))
          (f64x2.sub (local.get $v) (local.get $z)))))
    (v128.store (local.get $acc) (local.get $t)))

  ;; Compensated acc/cmp += x[i] for float64 x.
  (func (export "add2_f64") (param $acc i32) (param $cmp i32) (param $x i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $acc) (i32.shl (local.get $n) (i32.const 3))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $acc) (local.get $end)))
      (call $two_sum (local.get $acc) (local.get $cmp) (v128.load (local.get $x)))
      (local.set $acc (i32.add (local.get $acc) (i32.const 16)))
      (local.set $cmp (i32.add (local.get $cmp) (i32.const 16)))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (br $next))))

  ;; Compensated acc/cmp += f64(x[i]) for float32 x.
  (func (export "add2_f32") (param $acc i32) (param $cmp i32) (param $x i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $acc) (i32.shl (local.get $n) (i32.const 3))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $acc) (local.get $end)))
      (call $two_sum (local.get $acc) (local.get $cmp)
        (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $x))))
      (local.set $acc (i32.add (local.get $acc) (i32.const 16)))
      (local.set $cmp (i32.add (local.get $cmp) (i32.const 16)))
      (local.set $x (i32.add (local.get $x) (i32.const 8)))
      (br $next))))

  ;; acc[i] /= d in place. Returns 1 when any result is not finite (so the host
  ;; can re-run those elements through the overflow-safe path), else 0.
  (func (export "div_f64") (param $acc i32) (param $n i32) (param $d f64) (result i32)
    (local $end i32) (local $dv v128) (local $q v128) (local $bad v128) (local $r v128)
    (local.set $dv (f64x2.splat (local.get $d)))
    (local.set $end (i32.add (local.get $acc) (i32.shl (local.get $n) (i32.const 3))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $acc) (local.get $end)))
      (local.set $q (f64x2.div (v128.load (local.get $acc)) (local.get $dv)))
      (v128.store (local.get $acc) (local.get $q))
      ;; q - q is NaN exactly when q is infinite or NaN.
      (local.set $r (f64x2.sub (local.get $q) (local.get $q)))
      (local.set $bad (v128.or (local.get $bad) (f64x2.ne (local.get $r) (local.get $r))))
      (local.set $acc (i32.add (local.get $acc) (i32.const 16)))
      (br $next)))
    (v128.any_true (local.get $bad)))
)
