//! Checksums a device protocol expects at the end of a frame (sum8, xor8,
//! LRC, CRC-16/MODBUS, CRC-16/CCITT-FALSE, CRC-32), computed by the `crc`
//! crate's catalogue where they are CRCs, in the byte order asked.

use crc::{CRC_16_IBM_3740, CRC_16_MODBUS, CRC_32_ISO_HDLC, Crc};

/// A checksum to append.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Checksum {
    /// Nothing appended.
    #[default]
    None,
    /// The sum of the bytes, mod 256 (one byte).
    Sum8,
    /// The XOR of the bytes (one byte).
    Xor8,
    /// Modbus ASCII's LRC: the two's complement of the sum (one byte).
    Lrc,
    /// CRC-16/MODBUS (two bytes; Modbus sends the low byte first).
    Crc16Modbus,
    /// CRC-16/CCITT-FALSE, catalogued as CRC-16/IBM-3740 (two bytes).
    Crc16CcittFalse,
    /// CRC-32 as zip and Ethernet use it, CRC-32/ISO-HDLC (four bytes).
    Crc32,
}

/// The order a checksum's bytes are appended in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ByteOrder {
    /// Most significant byte first.
    #[default]
    Big,
    /// Least significant byte first.
    Little,
}

/// A checksum and its byte order, as a snippet or a responder's replies
/// carry it: computed over the bytes when they are sent, so a template or a
/// regex capture is covered too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trailer {
    /// Which checksum (None: nothing appended).
    pub checksum: Checksum,
    /// Its byte order.
    pub order: ByteOrder,
}

impl Trailer {
    /// Nothing is appended.
    pub fn is_none(&self) -> bool {
        self.checksum == Checksum::None
    }

    /// `data` with the checksum appended.
    pub fn applied(&self, data: &[u8]) -> Vec<u8> {
        let mut out = data.to_vec();
        out.extend_from_slice(&self.checksum.of(data, self.order));
        out
    }
}

impl Checksum {
    /// Every checksum, for pickers.
    pub const ALL: [Checksum; 7] = [
        Checksum::None,
        Checksum::Sum8,
        Checksum::Xor8,
        Checksum::Lrc,
        Checksum::Crc16Modbus,
        Checksum::Crc16CcittFalse,
        Checksum::Crc32,
    ];

    /// Its usual name.
    pub fn name(self) -> &'static str {
        match self {
            Checksum::None => "none",
            Checksum::Sum8 => "sum8",
            Checksum::Xor8 => "xor8",
            Checksum::Lrc => "LRC",
            Checksum::Crc16Modbus => "CRC-16/MODBUS",
            Checksum::Crc16CcittFalse => "CRC-16/CCITT-FALSE",
            Checksum::Crc32 => "CRC-32",
        }
    }

    /// The checksum of `data` as the bytes to append.
    pub fn of(self, data: &[u8], order: ByteOrder) -> Vec<u8> {
        let put = |v: u64, n: usize| -> Vec<u8> {
            let be = v.to_be_bytes();
            let mut b = be[8 - n..].to_vec();
            if order == ByteOrder::Little {
                b.reverse();
            }
            b
        };
        match self {
            Checksum::None => Vec::new(),
            Checksum::Sum8 => vec![data.iter().fold(0u8, |a, b| a.wrapping_add(*b))],
            Checksum::Xor8 => vec![data.iter().fold(0u8, |a, b| a ^ b)],
            Checksum::Lrc => vec![
                data.iter()
                    .fold(0u8, |a, b| a.wrapping_add(*b))
                    .wrapping_neg(),
            ],
            Checksum::Crc16Modbus => put(Crc::<u16>::new(&CRC_16_MODBUS).checksum(data).into(), 2),
            Checksum::Crc16CcittFalse => {
                put(Crc::<u16>::new(&CRC_16_IBM_3740).checksum(data).into(), 2)
            }
            Checksum::Crc32 => put(Crc::<u32>::new(&CRC_32_ISO_HDLC).checksum(data).into(), 4),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The catalogue's check values for "123456789", and a Modbus frame.
    #[test]
    fn known_values() {
        let d = b"123456789";
        let be = ByteOrder::Big;
        assert_eq!(Checksum::Crc16Modbus.of(d, be), vec![0x4b, 0x37]);
        assert_eq!(Checksum::Crc16CcittFalse.of(d, be), vec![0x29, 0xb1]);
        assert_eq!(Checksum::Crc32.of(d, be), vec![0xcb, 0xf4, 0x39, 0x26]);
        assert_eq!(
            Checksum::Crc32.of(d, ByteOrder::Little),
            vec![0x26, 0x39, 0xf4, 0xcb]
        );
        // Modbus RTU "read holding registers": 01 03 00 00 00 0A -> C5 CD.
        let frame = [0x01, 0x03, 0x00, 0x00, 0x00, 0x0a];
        assert_eq!(
            Checksum::Crc16Modbus.of(&frame, ByteOrder::Little),
            vec![0xc5, 0xcd]
        );
        assert_eq!(Checksum::Sum8.of(&[0xff, 0x02], be), vec![0x01]);
        assert_eq!(Checksum::Xor8.of(&[0xaa, 0x55, 0x0f], be), vec![0xf0]);
        // LRC of Modbus ASCII 01 03 00 00 00 0A is F2.
        assert_eq!(Checksum::Lrc.of(&frame, be), vec![0xf2]);
        assert!(Checksum::None.of(d, be).is_empty());
    }
}
