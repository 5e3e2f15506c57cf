//! LightGBM's C API, round by round: `lightgbm3` trains in one call with no callback, but a run
//! here reports every boosting round's losses as they happen (the "epoch" curve) and stops at a
//! Cancel between rounds, so the loop is driven through `lightgbm3-sys` directly. Every handle is
//! freed by its owner's `Drop`; the trained model leaves as LightGBM's own model text.

use std::ffi::{CStr, CString, c_int, c_void};
use std::ptr;

use lightgbm3_sys as sys;

use crate::error::{Error, Result};

/// LightGBM's message for the call that just failed.
fn last_error(call: &str) -> Error {
    // SAFETY: LGBM_GetLastError returns a pointer to a NUL-terminated, thread-local buffer that
    // stays valid until the next LightGBM call on this thread; it is copied at once.
    let message = unsafe { CStr::from_ptr(sys::LGBM_GetLastError()) }
        .to_string_lossy()
        .into_owned();
    Error::Gbdt(format!("{call} failed: {message}"))
}

fn check(call: &str, code: c_int) -> Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(last_error(call))
    }
}

fn c_string(text: &str) -> Result<CString> {
    CString::new(text).map_err(|_| Error::Gbdt(format!("a NUL byte in {text:?}")))
}

/// A dense, row-major float32 matrix with its labels, binned by LightGBM.
pub struct Dataset(sys::DatasetHandle);

impl Dataset {
    /// `rows` is `[labels.len(), columns]`; `reference` aligns the bins of a validation set with
    /// the training set's.
    pub fn new(
        rows: &[f32],
        labels: &[f32],
        columns: usize,
        parameters: &str,
        reference: Option<&Dataset>,
    ) -> Result<Self> {
        let n = labels.len();
        if n == 0 || columns == 0 || rows.len() != n * columns {
            return Err(Error::Gbdt(format!(
                "a dataset of {} values is not {n} rows of {columns} columns",
                rows.len()
            )));
        }
        let (n_i32, columns_i32) = (
            i32::try_from(n).map_err(|_| Error::Gbdt(format!("{n} rows are too many")))?,
            i32::try_from(columns).map_err(|_| Error::Gbdt(format!("{columns} columns")))?,
        );
        let parameters = c_string(parameters)?;
        let mut handle: sys::DatasetHandle = ptr::null_mut();
        // SAFETY: `rows` holds n * columns f32 values (checked above) and outlives the call, which
        // copies them into its own bins; `reference` is a live handle or null.
        check("LGBM_DatasetCreateFromMat", unsafe {
            sys::LGBM_DatasetCreateFromMat(
                rows.as_ptr().cast::<c_void>(),
                sys::C_API_DTYPE_FLOAT32 as c_int,
                n_i32,
                columns_i32,
                1,
                parameters.as_ptr(),
                reference.map_or(ptr::null_mut(), |r| r.0),
                &mut handle,
            )
        })?;
        let dataset = Self(handle);
        let field = c_string("label")?;
        // SAFETY: `labels` holds n f32 values, copied by the call; the handle is live.
        check("LGBM_DatasetSetField", unsafe {
            sys::LGBM_DatasetSetField(
                dataset.0,
                field.as_ptr(),
                labels.as_ptr().cast::<c_void>(),
                n_i32,
                sys::C_API_DTYPE_FLOAT32 as c_int,
            )
        })?;
        Ok(dataset)
    }
}

impl Drop for Dataset {
    fn drop(&mut self) {
        // SAFETY: the handle was created by LGBM_DatasetCreateFromMat and is freed once.
        unsafe { sys::LGBM_DatasetFree(self.0) };
    }
}

/// A booster being trained on one dataset, with one validation set.
pub struct Training<'a> {
    handle: sys::BoosterHandle,
    // The datasets must outlive the booster that reads them.
    _train: &'a Dataset,
    _validation: &'a Dataset,
}

impl<'a> Training<'a> {
    pub fn new(train: &'a Dataset, validation: &'a Dataset, parameters: &str) -> Result<Self> {
        let parameters = c_string(parameters)?;
        let mut handle: sys::BoosterHandle = ptr::null_mut();
        // SAFETY: `train` is a live dataset handle; `handle` receives a new booster.
        check("LGBM_BoosterCreate", unsafe {
            sys::LGBM_BoosterCreate(train.0, parameters.as_ptr(), &mut handle)
        })?;
        let training = Self {
            handle,
            _train: train,
            _validation: validation,
        };
        // SAFETY: both handles are live; the validation set was binned against `train`.
        check("LGBM_BoosterAddValidData", unsafe {
            sys::LGBM_BoosterAddValidData(training.handle, validation.0)
        })?;
        Ok(training)
    }

    /// Adds one tree; false when LightGBM found nothing left to split (training is finished).
    pub fn boost_one_round(&mut self) -> Result<bool> {
        let mut finished: c_int = 0;
        // SAFETY: the handle is live; `finished` is written by the call.
        check("LGBM_BoosterUpdateOneIter", unsafe {
            sys::LGBM_BoosterUpdateOneIter(self.handle, &mut finished)
        })?;
        Ok(finished == 0)
    }

    /// The first metric on the training data (`0`) or the validation data (`1`).
    pub fn metric(&self, data: c_int) -> Result<f64> {
        let mut count: c_int = 0;
        // SAFETY: the handle is live; `count` is written by the call.
        check("LGBM_BoosterGetEvalCounts", unsafe {
            sys::LGBM_BoosterGetEvalCounts(self.handle, &mut count)
        })?;
        if count <= 0 {
            return Err(Error::Gbdt("the booster reports no metric".into()));
        }
        let mut values = vec![0.0f64; count as usize];
        let mut written: c_int = 0;
        // SAFETY: `values` has room for `count` doubles, the number of metrics just reported.
        check("LGBM_BoosterGetEval", unsafe {
            sys::LGBM_BoosterGetEval(self.handle, data, &mut written, values.as_mut_ptr())
        })?;
        values
            .first()
            .copied()
            .filter(|_| written > 0)
            .ok_or_else(|| Error::Gbdt("the booster returned no metric value".into()))
    }

    /// The model text of the first `rounds` trees (LightGBM's own format, loadable by LightGBM).
    pub fn model_text(&self, rounds: usize) -> Result<String> {
        let rounds = c_int::try_from(rounds).map_err(|_| Error::Gbdt("too many rounds".into()))?;
        let mut needed: i64 = 0;
        // First ask how long it is, then fetch it into a buffer of that size.
        // SAFETY: a zero-length buffer is allowed; `needed` receives the required length.
        check("LGBM_BoosterSaveModelToString", unsafe {
            sys::LGBM_BoosterSaveModelToString(
                self.handle,
                0,
                rounds,
                sys::C_API_FEATURE_IMPORTANCE_GAIN as c_int,
                0,
                &mut needed,
                ptr::null_mut(),
            )
        })?;
        let mut buffer = vec![0u8; usize::try_from(needed).unwrap_or(0).max(1)];
        let mut written: i64 = 0;
        // SAFETY: `buffer` holds `needed` bytes, the length the previous call asked for.
        check("LGBM_BoosterSaveModelToString", unsafe {
            sys::LGBM_BoosterSaveModelToString(
                self.handle,
                0,
                rounds,
                sys::C_API_FEATURE_IMPORTANCE_GAIN as c_int,
                buffer.len() as i64,
                &mut written,
                buffer.as_mut_ptr().cast(),
            )
        })?;
        let text = CStr::from_bytes_until_nul(&buffer)
            .map_err(|_| Error::Gbdt("the model text is not NUL-terminated".into()))?;
        Ok(text.to_string_lossy().into_owned())
    }
}

impl Drop for Training<'_> {
    fn drop(&mut self) {
        // SAFETY: the handle was created by LGBM_BoosterCreate and is freed once.
        unsafe { sys::LGBM_BoosterFree(self.handle) };
    }
}
