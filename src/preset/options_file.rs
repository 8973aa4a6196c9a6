//! Socket options as files write them, drawn from the option table: a
//! preset's `options: (nodelay: true, rcvbuf: 65536)` takes each option's
//! `key`, a script's `SetSockOpt(var: "s", option: NoDelay(true))` each
//! option's variant, and both read and write values by the option's type.
//! Adding an option to the table adds it here with nothing to edit.

use std::fmt;
use std::sync::LazyLock;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, VariantAccess};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use super::{Ipv4Text, Secs};
use crate::engine::options::{IfName, OPTIONS, OptName, OptValue, SockOpt, Ty};

static KEYS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| OPTIONS.iter().filter_map(|d| d.key).collect());

/// Socket options as written in a preset; all optional, one value per
/// option, kept in the table's order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptionsFile(pub Vec<SockOpt>);

impl OptionsFile {
    /// The value set for an option, if any.
    pub fn get(&self, name: OptName) -> Option<OptValue> {
        self.0.iter().find(|o| o.name() == name).map(|o| o.value())
    }

    /// Sets an option, replacing an earlier value (the last one wins, as
    /// setsockopt would have it).
    pub fn set(&mut self, opt: SockOpt) {
        self.0.retain(|o| o.name() != opt.name());
        self.0.push(opt);
        self.0.sort_by_key(|o| o.name());
    }
}

/// A value in the file's shape for its type; `None` when files leave it
/// out (a time that is off: leaving the key out says the same).
fn file_value(v: OptValue) -> Option<FileValue> {
    Some(match v {
        OptValue::Flag(b) => FileValue::Flag(b),
        OptValue::Int(n) => FileValue::Int(n),
        OptValue::Secs(d) | OptValue::MaybeSecs(Some(d)) => FileValue::Secs(Secs(d)),
        OptValue::MaybeSecs(None) => return None,
        OptValue::Ipv4(a) => FileValue::Text(a.to_string()),
        OptValue::Name(n) => FileValue::Text(n.as_str().to_string()),
    })
}

#[derive(Serialize)]
#[serde(untagged)]
enum FileValue {
    Flag(bool),
    Int(u64),
    Secs(Secs),
    Text(String),
}

impl Serialize for OptionsFile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fields: Vec<_> = self
            .0
            .iter()
            .filter_map(|o| Some((o.def().key?, file_value(o.value())?)))
            .collect();
        let mut st = s.serialize_struct("OptionsFile", fields.len())?;
        for (k, v) in &fields {
            st.serialize_field(k, v)?;
        }
        st.end()
    }
}

/// A field or variant name as the format writes it (RON writes these
/// bare, not as strings).
struct Ident(String);

impl<'de> Deserialize<'de> for Ident {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Ident;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Ident, E> {
                Ok(Ident(v.to_string()))
            }
        }
        d.deserialize_identifier(V)
    }
}

/// Reads one value of a type; `maybe` for script values, which write
/// "off" as `None` and a time as `Some(2.0)`.
struct ValueSeed {
    ty: Ty,
    maybe: bool,
}

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = OptValue;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<OptValue, D::Error> {
        Ok(match self.ty {
            Ty::Flag => OptValue::Flag(bool::deserialize(d)?),
            Ty::Int { .. } => OptValue::Int(u64::deserialize(d)?),
            Ty::WholeSecs { .. } => OptValue::Secs(Secs::deserialize(d)?.0),
            Ty::Linger | Ty::Timeout if self.maybe => {
                OptValue::MaybeSecs(Option::<Secs>::deserialize(d)?.map(|s| s.0))
            }
            Ty::Linger | Ty::Timeout => OptValue::MaybeSecs(Some(Secs::deserialize(d)?.0)),
            Ty::Ipv4 => OptValue::Ipv4(Ipv4Text::deserialize(d)?.0),
            Ty::IfName => {
                OptValue::Name(IfName::new(&String::deserialize(d)?).map_err(de::Error::custom)?)
            }
        })
    }
}

impl<'de> Deserialize<'de> for OptionsFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = OptionsFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("socket options, e.g. (nodelay: true, rcvbuf: 65536)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<OptionsFile, A::Error> {
                let mut out = OptionsFile::default();
                while let Some(Ident(key)) = m.next_key::<Ident>()? {
                    let Some(name) = OptName::from_key(&key) else {
                        return Err(de::Error::unknown_field(&key, &KEYS));
                    };
                    if out.get(name).is_some() {
                        return Err(de::Error::custom(format!("`{key}` is given twice")));
                    }
                    let value = m.next_value_seed(ValueSeed {
                        ty: name.def().ty,
                        maybe: false,
                    })?;
                    out.set(SockOpt::new(name, value));
                }
                Ok(out)
            }
        }
        d.deserialize_struct("OptionsFile", &KEYS, V)
    }
}

/// An option and its value in a script: `ReuseAddress(true)`,
/// `RecvBuffer(65536)`, `Linger(Some(0))`.
#[derive(Clone, Debug, PartialEq)]
pub struct OptValueFile(pub SockOpt);

impl Serialize for OptValueFile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let name = self.0.name();
        let variant = name.variant();
        let index = name as u32;
        match self.0.value() {
            OptValue::MaybeSecs(d) => {
                s.serialize_newtype_variant("OptValueFile", index, variant, &d.map(Secs))
            }
            v => match file_value(v) {
                Some(v) => s.serialize_newtype_variant("OptValueFile", index, variant, &v),
                None => Err(serde::ser::Error::custom("no value")),
            },
        }
    }
}

impl<'de> Deserialize<'de> for OptValueFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = OptValueFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an option and its value, e.g. NoDelay(true)")
            }
            fn visit_enum<A: EnumAccess<'de>>(self, e: A) -> Result<OptValueFile, A::Error> {
                let (Ident(variant), access) = e.variant::<Ident>()?;
                let Some(name) = OptName::all().find(|n| n.variant() == variant) else {
                    return Err(de::Error::unknown_variant(&variant, OptName::variants()));
                };
                let value = access.newtype_variant_seed(ValueSeed {
                    ty: name.def().ty,
                    maybe: true,
                })?;
                Ok(OptValueFile(SockOpt::new(name, value)))
            }
        }
        d.deserialize_enum("OptValueFile", OptName::variants(), V)
    }
}
