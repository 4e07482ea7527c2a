(module
  (import "env" "memory" (memory 0))
  ;; out[i] = e^x[i] for n float32 values (out may be x itself) — gpt2cells.exp's fast path in the page, where
  ;; NumPy computes exp one value at a time: softmax's e^x over a [12 × 1024 × 1024] attention array took ~60 %
  ;; of the softmax. Four values at a time, as Cephes' expf does it: x = n·ln 2 + r with |r| ≤ ln 2 / 2 (ln 2 in
  ;; two parts, so n·ln 2 is exact enough), e^r by a polynomial, 2^n built in the exponent bits. Within 1 unit
  ;; in the last place of the exact value, as NumPy's (tests: against float64 exp, in Pyodide). The last n % 4
  ;; values go through the same arithmetic, loaded and stored lane by lane.
  (func (export "exp_f32") (param $x i32) (param $out i32) (param $count i32)
    (local $end i32) (local $whole i32) (local $left i32)
    (local $v v128) (local $below v128) (local $r v128) (local $n v128) (local $whole_n v128) (local $p v128)
    (local $z v128) (local $half v128) (local $to_zero v128) (local $largest v128) (local $log2e v128)
    (local $rounder v128) (local $rounder_bits v128) (local $ln2_hi v128) (local $ln2_lo v128) (local $poly0 v128)
    (local $poly1 v128) (local $poly2 v128) (local $poly3 v128) (local $poly4 v128) (local $poly5 v128)
    (local $one v128) (local $bias v128) (local $inf v128) (local $to_inf v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $count) (i32.const 2))))
    ;; the constants in locals, set once: V8 builds a v128.const anew at each use, several instructions each,
    ;; and this loop uses seventeen (in Chromium, e^x of 3072 values: 8.6 µs with them inline, 5.5 µs so)
    (local.set $to_zero (v128.const f32x4 -103.97208 -103.97208 -103.97208 -103.97208))
    (local.set $largest (v128.const f32x4 89.0 89.0 89.0 89.0))
    (local.set $log2e (v128.const f32x4 1.442695 1.442695 1.442695 1.442695))
    (local.set $rounder (v128.const f32x4 0x1.8p23 0x1.8p23 0x1.8p23 0x1.8p23))
    (local.set $rounder_bits (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000))
    (local.set $ln2_hi (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))
    (local.set $ln2_lo (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))
    (local.set $poly0 (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
    (local.set $poly1 (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3))
    (local.set $poly2 (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3))
    (local.set $poly3 (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2))
    (local.set $poly4 (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1))
    (local.set $poly5 (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1))
    (local.set $one (v128.const f32x4 1.0 1.0 1.0 1.0))
    (local.set $bias (v128.const i32x4 127 127 127 127))
    (local.set $inf (v128.const f32x4 inf inf inf inf))
    (local.set $to_inf (v128.const f32x4 88.72283935546875 88.72283935546875 88.72283935546875 88.72283935546875))
    (block $done
      (loop $fours
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $left (i32.shr_u (i32.sub (local.get $end) (local.get $x)) (i32.const 2)))  ;; values left
        (local.set $whole (i32.ge_u (local.get $left) (i32.const 4)))
        (if (local.get $whole)
          (then (local.set $v (v128.load (local.get $x))))
          (else
            (local.set $v (f32x4.splat (f32.load (local.get $x))))
            (if (i32.ge_u (local.get $left) (i32.const 2))
              (then (local.set $v (f32x4.replace_lane 1 (local.get $v) (f32.load offset=4 (local.get $x))))))
            (if (i32.ge_u (local.get $left) (i32.const 3))
              (then (local.set $v (f32x4.replace_lane 2 (local.get $v) (f32.load offset=8 (local.get $x))))))))
        ;; x held at most 89 (past 88.72 the result is set to inf below; nan stays nan), and taken as 0 where
        ;; e^x rounds to 0 (below -103.97, as every masked score, -inf): working out a subnormal on the way to 0
        ;; costs x86 a microcode assist a value, and half of each attention array is masked
        (local.set $below (f32x4.lt (local.get $v) (local.get $to_zero)))
        ;; (pmin, one x86 instruction, where min spends several on nan and -0: neither matters here, a nan stays nan)
        (local.set $r (v128.andnot (f32x4.pmin (local.get $v) (local.get $largest)) (local.get $below)))
        ;; n = r·log2(e) rounded to the nearest integer (ties to even), by adding 1.5·2^23: the sum lies in [2^23,
        ;; 2^24), where float32's spacing is 1, and its bits are those of 1.5·2^23 plus n (one add where
        ;; f32x4.nearest and i32x4.trunc_sat_f32x4_s took several instructions)
        (local.set $n (f32x4.add (f32x4.mul (local.get $r) (local.get $log2e)) (local.get $rounder)))
        (local.set $whole_n (i32x4.sub (local.get $n) (local.get $rounder_bits)))
        (local.set $n (f32x4.sub (local.get $n) (local.get $rounder)))
        (local.set $r (f32x4.sub (local.get $r) (f32x4.mul (local.get $n) (local.get $ln2_hi))))
        (local.set $r (f32x4.sub (local.get $r) (f32x4.mul (local.get $n) (local.get $ln2_lo))))
        ;; e^r = 1 + r + r^2·P(r), Cephes' coefficients
        (local.set $z (f32x4.mul (local.get $r) (local.get $r)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $poly0) (local.get $r)) (local.get $poly1)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (local.get $poly2)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (local.get $poly3)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (local.get $poly4)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (local.get $poly5)))
        (local.set $p (f32x4.add (f32x4.add (f32x4.mul (local.get $p) (local.get $z)) (local.get $r)) (local.get $one)))
        ;; times 2^n as 2^floor(n/2) · 2^(n - floor(n/2)): each a normal float32 for n in [-150, 128], and only
        ;; the last product can be subnormal (rounded once)
        (local.set $half (i32x4.shr_s (local.get $whole_n) (i32.const 1)))
        (local.set $n (i32x4.sub (local.get $whole_n) (local.get $half)))
        (local.set $p (f32x4.mul (local.get $p) (i32x4.shl (i32x4.add (local.get $half) (local.get $bias)) (i32.const 23))))
        (local.set $p (f32x4.mul (local.get $p) (i32x4.shl (i32x4.add (local.get $n) (local.get $bias)) (i32.const 23))))
        ;; past float32's range: inf above, 0 below (e^-inf is 0: the masked scores' weights)
        (local.set $p (v128.bitselect (local.get $inf) (local.get $p)
                                      (f32x4.gt (local.get $v) (local.get $to_inf))))
        (local.set $p (v128.andnot (local.get $p) (local.get $below)))
        (if (local.get $whole)
          (then (v128.store (local.get $out) (local.get $p)))
          (else
            (f32.store (local.get $out) (f32x4.extract_lane 0 (local.get $p)))
            (if (i32.ge_u (local.get $left) (i32.const 2))
              (then (f32.store offset=4 (local.get $out) (f32x4.extract_lane 1 (local.get $p)))))
            (if (i32.ge_u (local.get $left) (i32.const 3))
              (then (f32.store offset=8 (local.get $out) (f32x4.extract_lane 2 (local.get $p)))))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (br $fours)))))
