//! Identifiers of Chinese government services, parsed into validated newtypes.
//!
//! Each type is built only through `parse` (or `FromStr`), which checks structure and check
//! characters and says why a value is refused. What each check is, with its source, is in
//! `../shared/domain/identifiers-and-calendar.md` and `government-services.md`.
//!
//! Personal identifiers ([`CitizenId`], [`CardNumber`]) mask themselves in Display and Debug;
//! their errors never repeat the value.

mod card;
mod citizen;
mod credit_code;
mod division;
mod item_code;
mod licence;

pub use card::{CardNumber, CardNumberError};
pub use citizen::{CitizenId, CitizenIdError, Sex};
pub use credit_code::{CreditCode, CreditCodeError, organisation_code_check};
pub use division::{Division, DivisionCode, DivisionError, DivisionLevel, guangdong_cities};
pub use item_code::{
    BasicCode, ExerciseLevel, HandlingItemCode, ImplementingCode, ItemCode, ItemCodeError, ItemType,
};
pub use licence::{LicenceId, LicenceIdError, mod37_36_check};
