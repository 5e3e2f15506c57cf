//! Reading and writing NumPy `.npy` float32 arrays (C order), for `atb predict --raw-input` and
//! for checking exported models against the native ones.

use std::path::Path;

use crate::error::{Error, Result};

/// A float32 array and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyF32 {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::InvalidRequest(format!("{}: {}", path.display(), reason.into()))
}

/// Reads a little-endian float32, C-ordered `.npy` file (versions 1 to 3).
pub fn read_npy_f32(path: &Path) -> Result<NpyF32> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad(path, "not a .npy file (bad magic)"));
    }
    let (header_len, header_start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(path, format!("unsupported .npy version {v}"))),
    };
    let header = bytes
        .get(header_start..header_start + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad(path, "truncated header"))?;
    let compact: String = header.chars().filter(|c| !c.is_whitespace()).collect();
    if !compact.contains("'descr':'<f4'") {
        return Err(bad(
            path,
            format!("dtype must be little-endian float32 ('<f4'); header is {header}"),
        ));
    }
    if compact.contains("'fortran_order':True") {
        return Err(bad(
            path,
            "Fortran-ordered arrays are not supported; save with C order",
        ));
    }
    let shape_text = compact
        .split("'shape':(")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .ok_or_else(|| bad(path, "no shape in header"))?;
    let shape = shape_text
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| bad(path, format!("bad shape {shape_text:?}")))
        })
        .collect::<Result<Vec<usize>>>()?;
    // Checked: a header may claim any shape, and an overflowing product would wrap to a size
    // that matches the data.
    let needed = shape
        .iter()
        .try_fold(4usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(path, format!("shape {shape:?} is too large")))?;
    let data = &bytes[header_start + header_len..];
    if data.len() != needed {
        return Err(bad(
            path,
            format!(
                "shape {shape:?} needs {needed} bytes of data, the file has {}",
                data.len()
            ),
        ));
    }
    let values = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(NpyF32 { shape, values })
}

/// Writes a float32 C-ordered `.npy` (version 1).
#[cfg(test)]
pub fn write_npy_f32(path: &Path, shape: &[usize], values: &[f32]) -> Result<()> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Pad so the data starts on a 64-byte boundary, header ending in a newline.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, out).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_dtypes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        let values: Vec<f32> = (0..24).map(|i| i as f32 * 0.5).collect();
        write_npy_f32(&p, &[2, 3, 4], &values).unwrap();
        let back = read_npy_f32(&p).unwrap();
        assert_eq!(back.shape, vec![2, 3, 4]);
        assert_eq!(back.values, values);
        let mut bytes = std::fs::read(&p).unwrap();
        let at = bytes.windows(3).position(|w| w == b"<f4").unwrap();
        bytes[at + 2] = b'8';
        std::fs::write(&p, &bytes).unwrap();
        assert!(
            read_npy_f32(&p)
                .unwrap_err()
                .to_string()
                .contains("float32")
        );
        std::fs::write(&p, b"hello").unwrap();
        assert!(read_npy_f32(&p).is_err());
    }

    #[test]
    fn a_shape_whose_size_overflows_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.npy");
        // 2^62 x 4 float32s: the byte count wraps to 0 in unchecked arithmetic, matching the
        // empty data.
        let header =
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }\n";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        std::fs::write(&p, &bytes).unwrap();
        let err = read_npy_f32(&p).unwrap_err().to_string();
        assert!(err.contains("too large"), "{err}");
    }
}
