;; SIMD accumulation kernels for mean fusion (WebAssembly, 128-bit SIMD).
;;
;; Every function works on byte addresses inside this module's memory, which the host uses as a staging
;; area: the host copies a block of up to 8 inputs into "slots" `stride` bytes apart, calls these functions,
;; and copies the finished block out. Counts are elements; the host rounds them up to a multiple of 4, so
;; trailing lanes may hold garbage that the host never reads back.
;;
;; Per element, inputs are added in input order, and every lane performs exactly the IEEE-754 operations of
;; the scalar JavaScript kernel (src/kernels/scalar.ts), so results are bitwise identical to it.
(module
  (memory (export "memory") 1)

  ;; acc[i] = f64(src[i]) for float32 src.
  (func (export "promote_f32") (param $dst i32) (param $src i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 3))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
      (v128.store (local.get $dst) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $src))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $src (i32.add (local.get $src) (i32.const 8)))
      (br $next))))

  ;; acc[i] = ((acc[i] + x_0[i]) + x_1[i]) + ... + x_{m-1}[i], float64 slots at x + j*stride.
  (func (export "addm_f64") (param $acc i32) (param $x i32) (param $stride i32) (param $m i32) (param $n i32)
    (local $end i32) (local $a v128) (local $b v128) (local $p i32) (local $j i32)
    (local.set $end (i32.add (local.get $acc) (i32.shl (local.get $n) (i32.const 3))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $acc) (local.get $end)))
      (local.set $a (v128.load (local.get $acc)))
      (local.set $b (v128.load offset=16 (local.get $acc)))
      (local.set $p (local.get $x))
      (local.set $j (local.get $m))
      (block $last (loop $input
        (br_if $last (i32.eqz (local.get $j)))
        (local.set $a (f64x2.add (local.get $a) (v128.load (local.get $p))))
        (local.set $b (f64x2.add (local.get $b) (v128.load offset=16 (local.get $p))))
        (local.set $p (i32.add (local.get $p) (local.get $stride)))
        (local.set $j (i32.sub (local.get $j) (i32.const 1)))
        (br $input)))
      (v128.store (local.get $acc) (local.get $a))
      (v128.store offset=16 (local.get $acc) (local.get $b))
      (local.set $acc (i32.add (local.get $acc) (i32.const 32)))
      (local.set $x (i32.add (local.get $x) (i32.const 32)))
      (br $next))))

  ;; As addm_f64 for float32 slots (each value widened exactly to float64).
  (func (export "addm_f32") (param $acc i32) (param $x i32) (param $stride i32) (param $m i32) (param $n i32)
    (local $end i32) (local $a v128) (local $b v128) (local $p i32) (local $j i32)
    (local.set $end (i32.add (local.get $acc) (i32.shl (local.get $n) (i32.const 3))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $acc) (local.get $end)))
      (local.set $a (v128.load (local.get $acc)))
      (local.set $b (v128.load offset=16 (local.get $acc)))
      (local.set $p (local.get $x))
      (local.set $j (local.get $m))
      (block $last (loop $input
        (br_if $last (i32.eqz (local.get $j)))
        (local.set $a (f64x2.add (local.get $a) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $p)))))
        (local.set $b (f64x2.add (local.get $b) (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $p)))))
        (local.set $p (i32.add (local.get $p) (local.get $stride)))
        (local.set $j (i32.sub (local.get $j) (i32.const 1)))
        (br $input)))
      (v128.store (local.get $acc) (local.get $a))
      (v128.store offset=16 (local.get $acc) (local.get $b))
      (local.set $acc (i32.add (local.get $acc) (i32.const 32)))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (br $next))))

  ;; acc[i] = (...((acc[i] + x_0[i]) + x_1[i]) ... + x_7[i]) for 8 float64 slots 32768 bytes apart
  ;; (BLOCK = 4096 in src/kernels/simd.ts), fully unrolled with immediate offsets.
  (func (export "add8_f64") (param $acc i32) (param $x i32) (param $n i32)
    (local $end i32) (local $a v128) (local $b v128)
    (local.set $end (i32.add (local.get $acc) (i32.shl (local.get $n) (i32.const 3))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $acc) (local.get $end)))
      (local.set $a (v128.load (local.get $acc)))
      (local.set $b (v128.load offset=16 (local.get $acc)))
      (local.set $a (f64x2.add (local.get $a) (v128.load offset=0 (local.get $x))))
      (local.set $b (f64x2.add (local.get $b) (v128.load offset=16 (local.get $x))))
      (local.set $a (f64x2.add (local.get $a) (v128.load offset=32768 (local.get $x))))
      (local.set $b (f64x2.add (local.get $b) (v128.load offset=32784 (local.get $x))))
      (local.set $a (f64x2.add (local.get $a) (v128.load offset=65536 (local.get $x))))
      (local.set $b (f64x2.add (local.get $b) (v128.load offset=65552 (local.get $x))))
      (local.set $a (f64x2.add (local.get $a) (v128.load offset=98304 (local.get $x))))
      (local.set $b (f64x2.add (local.get $b) (v128.load offset=98320 (local.get $x))))
      (local.set $a (f64x2.add (local.get $a) (v128.load offset=131072 (local.get $x))))
      (local.set $b (f64x2.add (local.get $b) (v128.load offset=131088 (local.get $x))))
      (local.set $a (f64x2.add (local.get $a) (v128.load offset=163840 (local.get $x))))
      (local.set $b (f64x2.add (local.get $b) (v128.load offset=163856 (local.get $x))))
      (local.set $a (f64x2.add (local.get $a) (v128.load offset=196608 (local.get $x))))
      (local.set $b (f64x2.add (local.get $b) (v128.load offset=196624 (local.get $x))))
      (local.set $a (f64x2.add (local.get $a) (v128.load offset=229376 (local.get $x))))
      (local.set $b (f64x2.add (local.get $b) (v128.load offset=229392 (local.get $x))))
      (v128.store (local.get $acc) (local.get $a))
      (v128.store offset=16 (local.get $acc) (local.get $b))
      (local.set $acc (i32.add (local.get $acc) (i32.const 32)))
      (local.set $x (i32.add (local.get $x) (i32.const 32)))
      (br $next))))

  ;; acc[i] = (...((acc[i] + x_0[i]) + x_1[i]) ... + x_7[i]) for 8 float32 slots 32768 bytes apart
  ;; (BLOCK = 4096 in src/kernels/simd.ts), fully unrolled with immediate offsets.
  (func (export "add8_f32") (param $acc i32) (param $x i32) (param $n i32)
    (local $end i32) (local $a v128) (local $b v128)
    (local.set $end (i32.add (local.get $acc) (i32.shl (local.get $n) (i32.const 3))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $acc) (local.get $end)))
      (local.set $a (v128.load (local.get $acc)))
      (local.set $b (v128.load offset=16 (local.get $acc)))
      (local.set $a (f64x2.add (local.get $a) (f64x2.promote_low_f32x4 (v128.load64_zero offset=0 (local.get $x)))))
      (local.set $b (f64x2.add (local.get $b) (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $x)))))
      (local.set $a (f64x2.add (local.get $a) (f64x2.promote_low_f32x4 (v128.load64_zero offset=32768 (local.get $x)))))
      (local.set $b (f64x2.add (local.get $b) (f64x2.promote_low_f32x4 (v128.load64_zero offset=32776 (local.get $x)))))
      (local.set $a (f64x2.add (local.get $a) (f64x2.promote_low_f32x4 (v128.load64_zero offset=65536 (local.get $x)))))
      (local.set $b (f64x2.add (local.get $b) (f64x2.promote_low_f32x4 (v128.load64_zero offset=65544 (local.get $x)))))
      (local.set $a (f64x2.add (local.get $a) (f64x2.promote_low_f32x4 (v128.load64_zero offset=98304 (local.get $x)))))
      (local.set $b (f64x2.add (local.get $b) (f64x2.promote_low_f32x4 (v128.load64_zero offset=98312 (local.get $x)))))
      (local.set $a (f64x2.add (local.get $a) (f64x2.promote_low_f32x4 (v128.load64_zero offset=131072 (local.get $x)))))
      (local.set $b (f64x2.add (local.get $b) (f64x2.promote_low_f32x4 (v128.load64_zero offset=131080 (local.get $x)))))
      (local.set $a (f64x2.add (local.get $a) (f64x2.promote_low_f32x4 (v128.load64_zero offset=163840 (local.get $x)))))
      (local.set $b (f64x2.add (local.get $b) (f64x2.promote_low_f32x4 (v128.load64_zero offset=163848 (local.get $x)))))
      (local.set $a (f64x2.add (local.get $a) (f64x2.promote_low_f32x4 (v128.load64_zero offset=196608 (local.get $x)))))
      (local.set $b (f64x2.add (local.get $b) (f64x2.promote_low_f32x4 (v128.load64_zero offset=196616 (local.get $x)))))
      (local.set $a (f64x2.add (local.get $a) (f64x2.promote_low_f32x4 (v128.load64_zero offset=229376 (local.get $x)))))
      (local.set $b (f64x2.add (local.get $b) (f64x2.promote_low_f32x4 (v128.load64_zero offset=229384 (local.get $x)))))
      (v128.store (local.get $acc) (local.get $a))
      (v128.store offset=16 (local.get $acc) (local.get $b))
      (local.set $acc (i32.add (local.get $acc) (i32.const 32)))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (br $next))))

  ;; Compensated accumulation (Knuth's TwoSum per input): t = s + v, z = t - s,
  ;; c += (s - (t - z)) + (v - z), s = t. Float64 slots.
  (func (export "addm2_f64") (param $acc i32) (param $cmp i32) (param $x i32) (param $stride i32) (param $m i32) (param $n i32)
    (local $end i32) (local $s v128) (local $c v128) (local $v v128) (local $t v128) (local $z v128)
    (local $p i32) (local $j i32)
    (local.set $end (i32.add (local.get $acc) (i32.shl (local.get $n) (i32.const 3))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $acc) (local.get $end)))
      (local.set $s (v128.load (local.get $acc)))
      (local.set $c (v128.load (local.get $cmp)))
      (local.set $p (local.get $x))
      (local.set $j (local.get $m))
      (block $last (loop $input
        (br_if $last (i32.eqz (local.get $j)))
        (local.set $v (v128.load (local.get $p)))
        (local.set $t (f64x2.add (local.get $s) (local.get $v)))
        (local.set $z (f64x2.sub (local.get $t) (local.get $s)))
        (local.set $c (f64x2.add (local.get $c)
          (f64x2.add (f64x2.sub (local.get $s) (f64x2.sub (local.get $t) (local.get $z)))
                     (f64x2.sub (local.get $v) (local.get $z)))))
        (local.set $s (local.get $t))
        (local.set $p (i32.add (local.get $p) (local.get $stride)))
        (local.set $j (i32.sub (local.get $j) (i32.const 1)))
        (br $input)))
      (v128.store (local.get $acc) (local.get $s))
      (v128.store (local.get $cmp) (local.get $c))
      (local.set $acc (i32.add (local.get $acc) (i32.const 16)))
      (local.set $cmp (i32.add (local.get $cmp) (i32.const 16)))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (br $next))))

  ;; As addm2_f64 for float32 slots.
  (func (export "addm2_f32") (param $acc i32) (param $cmp i32) (param $x i32) (param $stride i32) (param $m i32) (param $n i32)
    (local $end i32) (local $s v128) (local $c v128) (local $v v128) (local $t v128) (local $z v128)
    (local $p i32) (local $j i32)
    (local.set $end (i32.add (local.get $acc) (i32.shl (local.get $n) (i32.const 3))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $acc) (local.get $end)))
      (local.set $s (v128.load (local.get $acc)))
      (local.set $c (v128.load (local.get $cmp)))
      (local.set $p (local.get $x))
      (local.set $j (local.get $m))
      (block $last (loop $input
        (br_if $last (i32.eqz (local.get $j)))
        (local.set $v (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $p))))
        (local.set $t (f64x2.add (local.get $s) (local.get $v)))
        (local.set $z (f64x2.sub (local.get $t) (local.get $s)))
        (local.set $c (f64x2.add (local.get $c)
          (f64x2.add (f64x2.sub (local.get $s) (f64x2.sub (local.get $t) (local.get $z)))
                     (f64x2.sub (local.get $v) (local.get $z)))))
        (local.set $s (local.get $t))
        (local.set $p (i32.add (local.get $p) (local.get $stride)))
        (local.set $j (i32.sub (local.get $j) (i32.const 1)))
        (br $input)))
      (v128.store (local.get $acc) (local.get $s))
      (v128.store (local.get $cmp) (local.get $c))
      (local.set $acc (i32.add (local.get $acc) (i32.const 16)))
      (local.set $cmp (i32.add (local.get $cmp) (i32.const 16)))
      (local.set $x (i32.add (local.get $x) (i32.const 8)))
      (br $next))))

  ;; acc[i] /= d in place. Returns 1 when any result is not finite (so the host re-runs those elements
  ;; through the overflow-safe path), else 0.
  (func (export "div_f64") (param $acc i32) (param $n i32) (param $d f64) (result i32)
    (local $end i32) (local $dv v128) (local $q v128) (local $r v128) (local $bad v128)
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

  ;; Float32 finish of a compensated sum: out[i] = f32((c == 0 ? s : s + c) / d), rounded to nearest.
  ;; Returns 1 when some lane needs the exact scalar finisher: s or the quotient not finite, a quotient in
  ;; float32's subnormal range, or a quotient within 64 float64 ulps of a float32 rounding midpoint (where
  ;; rounding the float64 quotient again could differ from rounding the exact mean). The host calls it only
  ;; with d < 2^28.
  (func (export "fin_f32") (param $acc i32) (param $cmp i32) (param $out i32) (param $n i32) (param $d f64) (result i32)
    (local $end i32) (local $dv v128) (local $s v128) (local $c v128) (local $q v128) (local $r v128)
    (local $bad v128) (local $low v128)
    (local.set $dv (f64x2.splat (local.get $d)))
    (local.set $end (i32.add (local.get $acc) (i32.shl (local.get $n) (i32.const 3))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $acc) (local.get $end)))
      (local.set $s (v128.load (local.get $acc)))
      (local.set $c (v128.load (local.get $cmp)))
      (local.set $q (f64x2.div
        (v128.bitselect (local.get $s) (f64x2.add (local.get $s) (local.get $c))
          (f64x2.eq (local.get $c) (f64x2.splat (f64.const 0))))
        (local.get $dv)))
      (v128.store64_lane 0 (local.get $out) (f32x4.demote_f64x2_zero (local.get $q)))
      (local.set $r (f64x2.sub (local.get $s) (local.get $s)))
      (local.set $bad (v128.or (local.get $bad) (f64x2.ne (local.get $r) (local.get $r))))
      (local.set $r (f64x2.sub (local.get $q) (local.get $q)))
      (local.set $bad (v128.or (local.get $bad) (f64x2.ne (local.get $r) (local.get $r))))
      (local.set $bad (v128.or (local.get $bad)
        (v128.and (f64x2.lt (f64x2.abs (local.get $q)) (f64x2.splat (f64.const 0x1p-126)))
                  (f64x2.ne (local.get $q) (f64x2.splat (f64.const 0))))))
      ;; The 29 float64 fraction bits below float32 precision; 0x10000000 is exactly a midpoint.
      (local.set $low (i64x2.sub (v128.and (local.get $q) (i64x2.splat (i64.const 0x1fffffff)))
                                 (i64x2.splat (i64.const 0x10000000))))
      ;; An exact tie (the quotient is exactly the midpoint: c = 0 and q·d = s, exact for d < 2^28 since q
      ;; then has 25 significant bits) rounds correctly to even and needs no flag.
      (local.set $bad (v128.or (local.get $bad)
        (v128.andnot
          (i64x2.le_s (i64x2.abs (local.get $low)) (i64x2.splat (i64.const 64)))
          (v128.and (v128.and (i64x2.eq (local.get $low) (i64x2.splat (i64.const 0)))
                              (f64x2.eq (local.get $c) (f64x2.splat (f64.const 0))))
                    (f64x2.eq (f64x2.mul (local.get $q) (local.get $dv)) (local.get $s))))))
      (local.set $acc (i32.add (local.get $acc) (i32.const 16)))
      (local.set $cmp (i32.add (local.get $cmp) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 8)))
      (br $next)))
    (v128.any_true (local.get $bad)))
)
