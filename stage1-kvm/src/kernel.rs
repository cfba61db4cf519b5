//! The guest kernel: Debian ships a compressed `bzImage`; qemu boots an
//! uncompressed ELF `vmlinux` directly through its PVH entry point, with no
//! firmware and no decompression in the guest (which under TCG is emulated,
//! instruction by instruction). This module finds the payload in a bzImage
//! (boot protocol ≥ 2.08: `payload_offset`/`payload_length`), decompresses
//! it when it is LZ4 (the cloud kernel's format), and checks the ELF for a
//! PVH note (`XEN_ELFNOTE_PHYS32_ENTRY`). Anything else falls back to
//! booting the bzImage as it is.

/// Why a kernel image cannot be turned into a PVH vmlinux.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KernelError {
    /// Not a bzImage, or too old a boot protocol.
    #[error("not a bzImage with boot protocol 2.08 or later")]
    NotBzImage,
    /// The payload lies outside the file.
    #[error("the bzImage payload is out of bounds")]
    Bounds,
    /// A compression this module does not decode.
    #[error("the kernel payload is compressed with {0}, not LZ4")]
    Compression(&'static str),
    /// Corrupt LZ4 data.
    #[error("corrupt LZ4 payload")]
    Lz4,
    /// The result is not an ELF with a PVH entry.
    #[error("the kernel has no PVH entry point")]
    NoPvh,
}

/// The LZ4 legacy frame magic (what the kernel's `lz4 -l` writes).
const LZ4_LEGACY: [u8; 4] = [0x02, 0x21, 0x4c, 0x18];
/// Every block of an LZ4 legacy frame decompresses to at most this much.
const LZ4_BLOCK: usize = 8 << 20;
/// `XEN_ELFNOTE_PHYS32_ENTRY`: the PVH 32-bit entry point.
const PVH_NOTE: u32 = 18;

fn u32_at(data: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(off..off + 4)?.try_into().ok()?))
}

fn u16_at(data: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(data.get(off..off + 2)?.try_into().ok()?))
}

fn u64_at(data: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(data.get(off..off + 8)?.try_into().ok()?))
}

/// The compressed payload of a bzImage.
pub fn payload(bz: &[u8]) -> Result<&[u8], KernelError> {
    if bz.get(0x202..0x206) != Some(b"HdrS") || u16_at(bz, 0x206).unwrap_or(0) < 0x208 {
        return Err(KernelError::NotBzImage);
    }
    let setup_sects = match bz[0x1f1] {
        0 => 4,
        n => usize::from(n),
    };
    let start = (setup_sects + 1) * 512;
    let off = u32_at(bz, 0x248).ok_or(KernelError::NotBzImage)? as usize;
    let len = u32_at(bz, 0x24c).ok_or(KernelError::NotBzImage)? as usize;
    bz.get(start + off..start + off + len)
        .ok_or(KernelError::Bounds)
}

/// The uncompressed kernel in `payload`.
pub fn decompress(payload: &[u8]) -> Result<Vec<u8>, KernelError> {
    match payload {
        [0x7f, b'E', b'L', b'F', ..] => Ok(payload.to_vec()),
        [0x02, 0x21, 0x4c, 0x18, ..] => lz4_legacy(payload),
        [0x1f, 0x8b, ..] => Err(KernelError::Compression("gzip")),
        [0xfd, b'7', b'z', b'X', b'Z', ..] => Err(KernelError::Compression("xz")),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Err(KernelError::Compression("zstd")),
        _ => Err(KernelError::Compression("an unknown format")),
    }
}

/// Decodes an LZ4 legacy frame: the magic, then blocks of `size: u32 LE` +
/// data. The kernel appends the uncompressed size (4 bytes), which ends the
/// block list; a repeated magic starts another concatenated frame.
fn lz4_legacy(data: &[u8]) -> Result<Vec<u8>, KernelError> {
    let body = &data[..data.len().saturating_sub(4)];
    let mut out = Vec::new();
    let mut block = vec![0u8; LZ4_BLOCK];
    let mut pos = 4;
    while pos + 4 <= body.len() {
        let size = u32_at(body, pos).ok_or(KernelError::Lz4)?;
        pos += 4;
        if size.to_le_bytes() == LZ4_LEGACY {
            continue;
        }
        let input = body.get(pos..pos + size as usize).ok_or(KernelError::Lz4)?;
        let n =
            lz4_flex::block::decompress_into(input, &mut block).map_err(|_| KernelError::Lz4)?;
        out.extend_from_slice(&block[..n]);
        pos += size as usize;
    }
    if out.is_empty() {
        return Err(KernelError::Lz4);
    }
    Ok(out)
}

/// Whether `elf` (64-bit, little endian) carries a PVH entry note.
pub fn has_pvh_note(elf: &[u8]) -> bool {
    pvh_note(elf).is_some()
}

fn pvh_note(elf: &[u8]) -> Option<()> {
    if elf.get(..6)? != [0x7f, b'E', b'L', b'F', 2, 1] {
        return None;
    }
    let phoff = u64_at(elf, 0x20)? as usize;
    let phentsize = usize::from(u16_at(elf, 0x36)?);
    let phnum = usize::from(u16_at(elf, 0x38)?);
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32_at(elf, ph)? != 4 {
            continue; // not PT_NOTE
        }
        let off = u64_at(elf, ph + 8)? as usize;
        let size = u64_at(elf, ph + 32)? as usize;
        if notes(elf.get(off..off.checked_add(size)?)?)
            .any(|(name, ty)| name == b"Xen" && ty == PVH_NOTE)
        {
            return Some(());
        }
    }
    None
}

/// The (name without NUL, type) of each ELF note in a note segment.
fn notes(mut seg: &[u8]) -> impl Iterator<Item = (&[u8], u32)> {
    std::iter::from_fn(move || {
        let namesz = u32_at(seg, 0)? as usize;
        let descsz = u32_at(seg, 4)? as usize;
        let ty = u32_at(seg, 8)?;
        let name = seg.get(12..12 + namesz)?;
        let name = name.strip_suffix(&[0]).unwrap_or(name);
        let next = 12 + namesz.next_multiple_of(4) + descsz.next_multiple_of(4);
        seg = seg.get(next..).unwrap_or(&[]);
        Some((name, ty))
    })
}

/// The PVH vmlinux inside bzImage `bz`.
pub fn extract_pvh(bz: &[u8]) -> Result<Vec<u8>, KernelError> {
    let elf = decompress(payload(bz)?)?;
    if has_pvh_note(&elf) {
        Ok(elf)
    } else {
        Err(KernelError::NoPvh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 with one PT_NOTE segment holding `notes`.
    fn elf_with_notes(notes: &[(&[u8], u32)]) -> Vec<u8> {
        let mut seg = Vec::new();
        for (name, ty) in notes {
            let mut n = name.to_vec();
            n.push(0);
            seg.extend_from_slice(&(n.len() as u32).to_le_bytes());
            seg.extend_from_slice(&4u32.to_le_bytes());
            seg.extend_from_slice(&ty.to_le_bytes());
            n.resize(n.len().next_multiple_of(4), 0);
            seg.extend_from_slice(&n);
            seg.extend_from_slice(&0x0100_0000u32.to_le_bytes());
        }
        let mut elf = vec![0u8; 64 + 56];
        elf[..6].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1]);
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        elf[64..68].copy_from_slice(&4u32.to_le_bytes());
        elf[64 + 8..64 + 16].copy_from_slice(&(120u64).to_le_bytes());
        elf[64 + 32..64 + 40].copy_from_slice(&(seg.len() as u64).to_le_bytes());
        elf.extend_from_slice(&seg);
        elf
    }

    /// A bzImage header around `payload` (setup_sects 1).
    fn bzimage(payload: &[u8]) -> Vec<u8> {
        let mut bz = vec![0u8; 1024];
        bz[0x1f1] = 1;
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        bz[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        bz[0x248..0x24c].copy_from_slice(&16u32.to_le_bytes());
        bz[0x24c..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        bz.extend_from_slice(&[0u8; 16]);
        bz.extend_from_slice(payload);
        bz.extend_from_slice(b"trailer");
        bz
    }

    fn lz4_frame(data: &[u8]) -> Vec<u8> {
        let mut v = LZ4_LEGACY.to_vec();
        for chunk in data.chunks(LZ4_BLOCK) {
            let block = lz4_flex::block::compress(chunk);
            v.extend_from_slice(&(block.len() as u32).to_le_bytes());
            v.extend_from_slice(&block);
        }
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v
    }

    #[test]
    fn finds_the_pvh_note_among_others() {
        assert!(has_pvh_note(&elf_with_notes(&[(b"GNU", 3), (b"Xen", 18)])));
        assert!(!has_pvh_note(&elf_with_notes(&[
            (b"Xen", 17),
            (b"GNU", 18)
        ])));
        assert!(!has_pvh_note(b"\x7fELF\x01\x01 not 64-bit"));
        assert!(!has_pvh_note(&[]));
    }

    #[test]
    fn extracts_an_lz4_compressed_pvh_kernel() {
        let mut elf = elf_with_notes(&[(b"Xen", PVH_NOTE)]);
        elf.extend(std::iter::repeat_n(0x90u8, 3 << 20));
        let bz = bzimage(&lz4_frame(&elf));
        assert_eq!(extract_pvh(&bz).unwrap(), elf);
    }

    #[test]
    fn refuses_what_it_cannot_boot_directly() {
        let no_pvh = elf_with_notes(&[(b"GNU", 3)]);
        assert_eq!(
            extract_pvh(&bzimage(&lz4_frame(&no_pvh))),
            Err(KernelError::NoPvh)
        );
        assert_eq!(
            extract_pvh(&bzimage(&[0xfd, b'7', b'z', b'X', b'Z', 0])),
            Err(KernelError::Compression("xz"))
        );
        assert_eq!(
            extract_pvh(b"MZ not a kernel"),
            Err(KernelError::NotBzImage)
        );
        let mut truncated = bzimage(b"\x02\x21\x4c\x18");
        truncated[0x24c..0x250].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(extract_pvh(&truncated), Err(KernelError::Bounds));
        assert_eq!(
            extract_pvh(&bzimage(&[0x02, 0x21, 0x4c, 0x18, 9, 0, 0, 0, 1, 0, 0, 0])),
            Err(KernelError::Lz4)
        );
    }
}
