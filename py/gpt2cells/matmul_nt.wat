(module
  (import "env" "memory" (memory 0))
  ;; out[i, j] = sum_p x[i, p] * w[j, p]   (x [n, k], w [m, k], out [n, m]; float32, row-major; k % 4 == 0)
  ;; Pyodide's NumPy has no BLAS; this is gpt2cells.matmul's fast path there. It imports Pyodide's own memory
  ;; (build.py makes it an Emscripten side module), so it reads the numpy arrays where they are, no copies.
  ;; Six rows of w at a time share each load of x (and two rows of x each load of w: twelve sums, as many as
  ;; fit in registers beside the operands; four rows measured ~15 % slower); each sum runs in four f32x4 lanes,
  ;; which add up every fourth product and are added together at the end.
  ;; Products are accumulated with relaxed SIMD's fused multiply-add (one instruction instead of two: a 10-token
  ;; prompt ~25 % faster). Where relaxed SIMD is missing, build.py's second build of this file, with every
  ;; `f32x4.relaxed_madd` spelled out as f32x4.mul + f32x4.add, is loaded instead; so every relaxed_madd here
  ;; takes three local.gets, the form build.py rewrites.
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))
  ;; One row of x (decoding a token): one row of w after the other, so the weights are read as one sequential
  ;; stream, which the hardware prefetcher serves best; this case is bound by memory bandwidth (eight rows side
  ;; by side, eight streams, measured 16 GB/s in Chromium; one stream 28 GB/s). Four sums per row, each over
  ;; every fourth group of four products, keep the multiply-adds from waiting on each other.
  (func $matvec (param $x i32) (param $w i32) (param $out i32) (param $k i32) (param $m i32)
    (local $j i32) (local $p i32) (local $kb i32) (local $k64 i32) (local $row i32) (local $xv v128) (local $wv v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)
    (local.set $kb (i32.shl (local.get $k) (i32.const 2)))
    (local.set $k64 (i32.and (local.get $kb) (i32.const -64)))  ;; the bytes of a row taken 64 at a time
    (local.set $row (local.get $w))
    (local.set $j (i32.const 0))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $j) (local.get $m)))
        (local.set $c0 (v128.const i32x4 0 0 0 0))
        (local.set $c1 (v128.const i32x4 0 0 0 0))
        (local.set $c2 (v128.const i32x4 0 0 0 0))
        (local.set $c3 (v128.const i32x4 0 0 0 0))
        (local.set $p (i32.const 0))
        (block $done_p
          (loop $each_p
            (br_if $done_p (i32.ge_u (local.get $p) (local.get $k64)))
            (local.set $xv (v128.load offset=0 (i32.add (local.get $x) (local.get $p))))
            (local.set $wv (v128.load offset=0 (i32.add (local.get $row) (local.get $p))))
            (local.set $c0 (f32x4.relaxed_madd (local.get $xv) (local.get $wv) (local.get $c0)))
            (local.set $xv (v128.load offset=16 (i32.add (local.get $x) (local.get $p))))
            (local.set $wv (v128.load offset=16 (i32.add (local.get $row) (local.get $p))))
            (local.set $c1 (f32x4.relaxed_madd (local.get $xv) (local.get $wv) (local.get $c1)))
            (local.set $xv (v128.load offset=32 (i32.add (local.get $x) (local.get $p))))
            (local.set $wv (v128.load offset=32 (i32.add (local.get $row) (local.get $p))))
            (local.set $c2 (f32x4.relaxed_madd (local.get $xv) (local.get $wv) (local.get $c2)))
            (local.set $xv (v128.load offset=48 (i32.add (local.get $x) (local.get $p))))
            (local.set $wv (v128.load offset=48 (i32.add (local.get $row) (local.get $p))))
            (local.set $c3 (f32x4.relaxed_madd (local.get $xv) (local.get $wv) (local.get $c3)))
            (local.set $p (i32.add (local.get $p) (i32.const 64)))
            (br $each_p)))
        (block $done_tail  ;; k % 16 values left, four at a time
          (loop $each_tail
            (br_if $done_tail (i32.ge_u (local.get $p) (local.get $kb)))
            (local.set $xv (v128.load (i32.add (local.get $x) (local.get $p))))
            (local.set $wv (v128.load (i32.add (local.get $row) (local.get $p))))
            (local.set $c0 (f32x4.relaxed_madd (local.get $xv) (local.get $wv) (local.get $c0)))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (br $each_tail)))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2)))
                   (call $hsum (f32x4.add (f32x4.add (local.get $c0) (local.get $c1)) (f32x4.add (local.get $c2) (local.get $c3)))))
        (local.set $row (i32.add (local.get $row) (local.get $kb)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $rows))))
  (func (export "matmul_nt") (param $x i32) (param $w i32) (param $out i32) (param $n i32) (param $k i32) (param $m i32)
    (local $j i32) (local $i i32) (local $p i32) (local $kb i32) (local $xp i32) (local $yp i32) (local $o i32)
    (local $w0 i32) (local $w1 i32) (local $w2 i32) (local $w3 i32) (local $w4 i32) (local $w5 i32)
    (local $xv v128) (local $yv v128) (local $wv v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $a4 v128) (local $a5 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128) (local $b4 v128) (local $b5 v128)
    (local.set $kb (i32.shl (local.get $k) (i32.const 2)))  ;; bytes per row
    (local.set $j (i32.const 0))
    (if (i32.eq (local.get $n) (i32.const 1))
      (then (call $matvec (local.get $x) (local.get $w) (local.get $out) (local.get $k) (local.get $m)) (return)))
    ;; six weight rows at a time
    (block $done6
      (loop $rows6
        (br_if $done6 (i32.gt_u (i32.add (local.get $j) (i32.const 6)) (local.get $m)))
        (local.set $w0 (i32.add (local.get $w) (i32.mul (local.get $j) (local.get $kb))))
        (local.set $w1 (i32.add (local.get $w0) (local.get $kb)))
        (local.set $w2 (i32.add (local.get $w1) (local.get $kb)))
        (local.set $w3 (i32.add (local.get $w2) (local.get $kb)))
        (local.set $w4 (i32.add (local.get $w3) (local.get $kb)))
        (local.set $w5 (i32.add (local.get $w4) (local.get $kb)))
        (local.set $i (i32.const 0))
        ;; two rows of x at a time: twelve sums share each load
        (block $done_i2
          (loop $each_i2
            (br_if $done_i2 (i32.gt_u (i32.add (local.get $i) (i32.const 2)) (local.get $n)))
            (local.set $xp (i32.add (local.get $x) (i32.mul (local.get $i) (local.get $kb))))
            (local.set $yp (i32.add (local.get $xp) (local.get $kb)))
            (local.set $a0 (v128.const i32x4 0 0 0 0))
            (local.set $a1 (v128.const i32x4 0 0 0 0))
            (local.set $a2 (v128.const i32x4 0 0 0 0))
            (local.set $a3 (v128.const i32x4 0 0 0 0))
            (local.set $a4 (v128.const i32x4 0 0 0 0))
            (local.set $a5 (v128.const i32x4 0 0 0 0))
            (local.set $b0 (v128.const i32x4 0 0 0 0))
            (local.set $b1 (v128.const i32x4 0 0 0 0))
            (local.set $b2 (v128.const i32x4 0 0 0 0))
            (local.set $b3 (v128.const i32x4 0 0 0 0))
            (local.set $b4 (v128.const i32x4 0 0 0 0))
            (local.set $b5 (v128.const i32x4 0 0 0 0))
            (local.set $p (i32.const 0))
            (block $done_p2
              (loop $each_p2
                (br_if $done_p2 (i32.ge_u (local.get $p) (local.get $kb)))
                (local.set $xv (v128.load (i32.add (local.get $xp) (local.get $p))))
                (local.set $yv (v128.load (i32.add (local.get $yp) (local.get $p))))
                (local.set $wv (v128.load (i32.add (local.get $w0) (local.get $p))))
                (local.set $a0 (f32x4.relaxed_madd (local.get $xv) (local.get $wv) (local.get $a0)))
                (local.set $b0 (f32x4.relaxed_madd (local.get $yv) (local.get $wv) (local.get $b0)))
                (local.set $wv (v128.load (i32.add (local.get $w1) (local.get $p))))
                (local.set $a1 (f32x4.relaxed_madd (local.get $xv) (local.get $wv) (local.get $a1)))
                (local.set $b1 (f32x4.relaxed_madd (local.get $yv) (local.get $wv) (local.get $b1)))
                (local.set $wv (v128.load (i32.add (local.get $w2) (local.get $p))))
                (local.set $a2 (f32x4.relaxed_madd (local.get $xv) (local.get $wv) (local.get $a2)))
                (local.set $b2 (f32x4.relaxed_madd (local.get $yv) (local.get $wv) (local.get $b2)))
                (local.set $wv (v128.load (i32.add (local.get $w3) (local.get $p))))
                (local.set $a3 (f32x4.relaxed_madd (local.get $xv) (local.get $wv) (local.get $a3)))
                (local.set $b3 (f32x4.relaxed_madd (local.get $yv) (local.get $wv) (local.get $b3)))
                (local.set $wv (v128.load (i32.add (local.get $w4) (local.get $p))))
                (local.set $a4 (f32x4.relaxed_madd (local.get $xv) (local.get $wv) (local.get $a4)))
                (local.set $b4 (f32x4.relaxed_madd (local.get $yv) (local.get $wv) (local.get $b4)))
                (local.set $wv (v128.load (i32.add (local.get $w5) (local.get $p))))
                (local.set $a5 (f32x4.relaxed_madd (local.get $xv) (local.get $wv) (local.get $a5)))
                (local.set $b5 (f32x4.relaxed_madd (local.get $yv) (local.get $wv) (local.get $b5)))
                (local.set $p (i32.add (local.get $p) (i32.const 16)))
                (br $each_p2)))
            (local.set $o (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $m)) (local.get $j)) (i32.const 2))))
            (f32.store offset=0 (local.get $o) (call $hsum (local.get $a0)))
            (f32.store offset=4 (local.get $o) (call $hsum (local.get $a1)))
            (f32.store offset=8 (local.get $o) (call $hsum (local.get $a2)))
            (f32.store offset=12 (local.get $o) (call $hsum (local.get $a3)))
            (f32.store offset=16 (local.get $o) (call $hsum (local.get $a4)))
            (f32.store offset=20 (local.get $o) (call $hsum (local.get $a5)))
            (local.set $o (i32.add (local.get $o) (i32.shl (local.get $m) (i32.const 2))))
            (f32.store offset=0 (local.get $o) (call $hsum (local.get $b0)))
            (f32.store offset=4 (local.get $o) (call $hsum (local.get $b1)))
            (f32.store offset=8 (local.get $o) (call $hsum (local.get $b2)))
            (f32.store offset=12 (local.get $o) (call $hsum (local.get $b3)))
            (f32.store offset=16 (local.get $o) (call $hsum (local.get $b4)))
            (f32.store offset=20 (local.get $o) (call $hsum (local.get $b5)))
            (local.set $i (i32.add (local.get $i) (i32.const 2)))
            (br $each_i2)))
        (block $done_i
          (loop $each_i
            (br_if $done_i (i32.ge_u (local.get $i) (local.get $n)))
            (local.set $xp (i32.add (local.get $x) (i32.mul (local.get $i) (local.get $kb))))
            (local.set $a0 (v128.const i32x4 0 0 0 0))
            (local.set $a1 (v128.const i32x4 0 0 0 0))
            (local.set $a2 (v128.const i32x4 0 0 0 0))
            (local.set $a3 (v128.const i32x4 0 0 0 0))
            (local.set $a4 (v128.const i32x4 0 0 0 0))
            (local.set $a5 (v128.const i32x4 0 0 0 0))
            (local.set $p (i32.const 0))
            (block $done_p
              (loop $each_p
                (br_if $done_p (i32.ge_u (local.get $p) (local.get $kb)))
                (local.set $xv (v128.load (i32.add (local.get $xp) (local.get $p))))
                (local.set $wv (v128.load (i32.add (local.get $w0) (local.get $p))))
                (local.set $a0 (f32x4.relaxed_madd (local.get $xv) (local.get $wv) (local.get $a0)))
                (local.set $wv (v128.load (i32.add (local.get $w1) (local.get $p))))
                (local.set $a1 (f32x4.relaxed_madd (local.get $xv) (local.get $wv) (local.get $a1)))
                (local.set $wv (v128.load (i32.add (local.get $w2) (local.get $p))))
                (local.set $a2 (f32x4.relaxed_madd (local.get $xv) (local.get $wv) (local.get $a2)))
                (local.set $wv (v128.load (i32.add (local.get $w3) (local.get $p))))
                (local.set $a3 (f32x4.relaxed_madd (local.get $xv) (local.get $wv) (local.get $a3)))
                (local.set $wv (v128.load (i32.add (local.get $w4) (local.get $p))))
                (local.set $a4 (f32x4.relaxed_madd (local.get $xv) (local.get $wv) (local.get $a4)))
                (local.set $wv (v128.load (i32.add (local.get $w5) (local.get $p))))
                (local.set $a5 (f32x4.relaxed_madd (local.get $xv) (local.get $wv) (local.get $a5)))
                (local.set $p (i32.add (local.get $p) (i32.const 16)))
                (br $each_p)))
            (local.set $o (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $m)) (local.get $j)) (i32.const 2))))
            (f32.store offset=0 (local.get $o) (call $hsum (local.get $a0)))
            (f32.store offset=4 (local.get $o) (call $hsum (local.get $a1)))
            (f32.store offset=8 (local.get $o) (call $hsum (local.get $a2)))
            (f32.store offset=12 (local.get $o) (call $hsum (local.get $a3)))
            (f32.store offset=16 (local.get $o) (call $hsum (local.get $a4)))
            (f32.store offset=20 (local.get $o) (call $hsum (local.get $a5)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $each_i)))
        (local.set $j (i32.add (local.get $j) (i32.const 6)))
        (br $rows6)))
    ;; the last m % 6 rows one at a time
    (block $done1
      (loop $rows1
        (br_if $done1 (i32.ge_u (local.get $j) (local.get $m)))
        (local.set $w0 (i32.add (local.get $w) (i32.mul (local.get $j) (local.get $kb))))
        (local.set $i (i32.const 0))
        (block $done_i1
          (loop $each_i1
            (br_if $done_i1 (i32.ge_u (local.get $i) (local.get $n)))
            (local.set $xp (i32.add (local.get $x) (i32.mul (local.get $i) (local.get $kb))))
            (local.set $a0 (v128.const i32x4 0 0 0 0))
            (local.set $p (i32.const 0))
            (block $done_p1
              (loop $each_p1
                (br_if $done_p1 (i32.ge_u (local.get $p) (local.get $kb)))
                (local.set $xv (v128.load (i32.add (local.get $xp) (local.get $p))))
                (local.set $wv (v128.load (i32.add (local.get $w0) (local.get $p))))
                (local.set $a0 (f32x4.relaxed_madd (local.get $xv) (local.get $wv) (local.get $a0)))
                (local.set $p (i32.add (local.get $p) (i32.const 16)))
                (br $each_p1)))
            (f32.store (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $m)) (local.get $j)) (i32.const 2)))
                       (call $hsum (local.get $a0)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $each_i1)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $rows1)))))
