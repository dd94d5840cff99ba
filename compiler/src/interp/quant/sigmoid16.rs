//! TFLite's int16 sigmoid and tanh (`reference_integer_ops::Logistic` and `Tanh` on
//! int16): linear interpolation in a 256-entry table of `sigmoid(i / 24)`, with
//! `tanh(x) = 2 sigmoid(2x) - 1`.

/// `sigmoid(i / 24)` in unsigned 0.16 format (TFLite's `sigmoid_table_uint16`).
const SIGMOID_TABLE: [u16; 256] = [
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794,
    41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443,
    48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169, 53581, 53983, 54374,
    54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544,
    58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279,
    61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990,
    63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030,
    64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652,
    64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019,
    65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234,
    65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476,
    65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498, 65500, 65501,
    65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516,
    65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529,
    65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532,
    65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65534, 65534,
    65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
];

/// The input scaling both functions start with: `input_multiplier == 0` means a power of
/// two, `3 << left_shift`.
fn scaled(x: i16, multiplier: i32, left_shift: i32) -> i32 {
    let (m, s) = match multiplier {
        0 => (3 << left_shift, 0),
        m => (m, left_shift),
    };
    let round = if s > 0 { 1 << (s - 1) } else { 0 };
    (i32::from(x) * m + round) >> s
}

/// `Logistic(input_multiplier, input_left_shift, ...)` on int16: Q3.12 in, Q0.15 out
/// (for multiplier 0 and shift 0).
pub fn logistic_i16(x: i16, multiplier: i32, left_shift: i32) -> i16 {
    let v = scaled(x, multiplier, left_shift);
    let abs = v.unsigned_abs();
    let uh = abs >> 9;
    let mut result: u32 = if uh >= 255 {
        0x7FFF << 10
    } else {
        let ua = u32::from(SIGMOID_TABLE[uh as usize]);
        let ub = u32::from(SIGMOID_TABLE[uh as usize + 1]);
        (ua << 9).wrapping_add((abs & 0x1ff).wrapping_mul(ub.wrapping_sub(ua)))
    };
    result = if v >= 0 {
        result.wrapping_add(1 << 9)
    } else {
        (1u32 << 25)
            .wrapping_sub(result)
            .wrapping_add(1 << 9)
            .wrapping_sub(1)
    };
    (result >> 10) as i16
}

/// `Tanh(input_multiplier, input_left_shift, ...)` on int16: Q0.15 out.
pub fn tanh_i16(x: i16, multiplier: i32, left_shift: i32) -> i16 {
    let v = scaled(x, multiplier, left_shift);
    let abs = v.unsigned_abs();
    let uh = abs >> 8;
    let result: i32 = if uh >= 255 {
        0xFFFF << 8
    } else {
        let ua = u32::from(SIGMOID_TABLE[uh as usize]);
        let ub = u32::from(SIGMOID_TABLE[uh as usize + 1]);
        let ut = abs & 0xFF;
        (ua << 8).wrapping_add(ut.wrapping_mul(ub.wrapping_sub(ua))) as i32
    };
    let result = if v >= 0 {
        result - (1 << (14 + 9)) + (1 << (9 - 2))
    } else {
        -result + (1 << (14 + 9)) + (1 << (9 - 2)) - 1
    };
    (result >> (9 - 1)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_the_sigmoid_and_the_functions_follow_it() {
        for (i, &t) in SIGMOID_TABLE.iter().enumerate() {
            let s = 1.0 / (1.0 + (-(i as f64) / 24.0).exp());
            // TFLite's entries are within 1.2 codes of the exact value.
            assert!((f64::from(t) - s * 65536.0).abs() <= 1.2, "entry {i}");
        }
        // Q3.12 in, Q0.15 out.
        for x in [-32768i16, -4096, -1, 0, 1, 2048, 4096, 32767] {
            let real = f64::from(x) / 4096.0;
            let s = f64::from(logistic_i16(x, 0, 0)) / 32768.0;
            assert!(
                (s - 1.0 / (1.0 + (-real).exp())).abs() < 2e-4,
                "sigmoid {x}"
            );
            let t = f64::from(tanh_i16(x, 0, 0)) / 32768.0;
            assert!((t - real.tanh()).abs() < 2e-4, "tanh {x}");
        }
    }
}
