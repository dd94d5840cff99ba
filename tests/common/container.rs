//! Editing FlatBuffer files as an attacker would: fields patched in place, and for nnopt's
//! container files (`.npub`, `.ntp`) the header's CRC-32 recomputed, so that only the
//! structural validation stands between the damage and the loader.

/// CRC-32 (IEEE) of `bytes`.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                0xEDB8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Rewrites the header's CRC so that only the structure is left to catch `file`'s damage.
pub fn reseal(file: &mut [u8]) {
    let mut covered = file[..12].to_vec();
    covered.extend_from_slice(&file[20..]);
    let crc = crc32(&covered);
    file[12..16].copy_from_slice(&crc.to_le_bytes());
}

/// The 20-byte header before the FlatBuffer payload.
const HEADER: usize = 20;

fn u32_at(f: &[u8], i: usize) -> usize {
    u32::from_le_bytes(f[i..i + 4].try_into().unwrap()) as usize
}

/// The absolute position of field `field` of the table at `table`, if present.
fn field(f: &[u8], table: usize, field: usize) -> Option<usize> {
    let soffset = i32::from_le_bytes(f[table..table + 4].try_into().unwrap());
    let vtable = (table as i64 - i64::from(soffset)) as usize;
    let vtable_len = usize::from(u16::from_le_bytes([f[vtable], f[vtable + 1]]));
    let slot = 4 + 2 * field;
    if slot + 2 > vtable_len {
        return None;
    }
    let off = usize::from(u16::from_le_bytes([f[vtable + slot], f[vtable + slot + 1]]));
    (off != 0).then_some(table + off)
}

/// The root table's position.
pub fn root(f: &[u8]) -> usize {
    HEADER + u32_at(f, HEADER)
}

/// The root table's position in a FlatBuffer without a header (a TFLite model).
pub fn plain_root(f: &[u8]) -> usize {
    u32_at(f, 0)
}

/// The position of the vector in field `vector_field` of `table` (its length word).
pub fn vector(f: &[u8], table: usize, vector_field: usize) -> usize {
    let at = field(f, table, vector_field).expect("the vector is present");
    at + u32_at(f, at)
}

/// Table `k` of the vector of tables in field `vector_field` of `table`.
pub fn element(f: &[u8], table: usize, vector_field: usize, k: usize) -> usize {
    let vector = vector(f, table, vector_field);
    assert!(k < u32_at(f, vector), "element {k} exists");
    let slot = vector + 4 + 4 * k;
    slot + u32_at(f, slot)
}

/// Overwrites scalar field `field` of `table` with `value` (its little-endian bytes; the
/// field must be present and of that width), then reseals the file.
pub fn patch(f: &mut [u8], table: usize, field_index: usize, value: &[u8]) {
    let at = field(f, table, field_index).expect("the field is present");
    f[at..at + value.len()].copy_from_slice(value);
    reseal(f);
}
