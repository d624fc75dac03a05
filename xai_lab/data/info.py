"""One table describing every dataset the package knows (``INFO``), like MedMNIST's ``INFO``.

Each row holds what a loader, a model builder and a dataset card need: where the data comes
from (URLs and MD5 checksums of each MedMNIST size, copied from ``medmnist`` 3.0.2's
``info.py``), the task (``binary`` / ``multiclass`` / ``ordinal``), label names, channels,
official split sizes, licence and citation. Nothing here touches the disk or the network.

References
----------
Yang, J. et al. (2023). MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D
biomedical image classification. *Scientific Data* 10, 41. doi:10.1038/s41597-022-01721-8
"""

from __future__ import annotations

from typing import Any

MEDMNIST_SIZES = (28, 64, 128, 224)
MEDMNIST_RECORD = "https://zenodo.org/records/10519652"
MEDMNIST_CITATION = (
    "Yang, J., Shi, R., Wei, D., Liu, Z., Zhao, L., Ke, B., Pfister, H., Ni, B. (2023). "
    "MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical image "
    "classification. Scientific Data 10, 41. doi:10.1038/s41597-022-01721-8"
)
KERMANY_CITATION = (
    "Kermany, D. S., Goldbaum, M., Cai, W., et al. (2018). Identifying medical diagnoses and "
    "treatable diseases by image-based deep learning. Cell 172(5), 1122-1131. "
    "doi:10.1016/j.cell.2018.02.010 (data: Mendeley Data, doi:10.17632/rscbjbr9sj.2)"
)
HAM10000_CITATION = (
    "Tschandl, P., Rosendahl, C., Kittler, H. (2018). The HAM10000 dataset, a large collection "
    "of multi-source dermatoscopic images of common pigmented skin lesions. Scientific Data 5, "
    "180161. doi:10.1038/sdata.2018.161"
)
DEEPDRID_CITATION = (
    "Liu, R., Wang, X., Wu, Q., et al. (2022). DeepDRiD: Diabetic retinopathy - grading and "
    "image quality estimation challenge. Patterns 3(6), 100512. doi:10.1016/j.patter.2022.100512"
)

HAM10000_CODES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
HAM10000_NAMES = (
    "actinic keratoses and intraepithelial carcinoma",
    "basal cell carcinoma",
    "benign keratosis-like lesions",
    "dermatofibroma",
    "melanoma",
    "melanocytic nevi",
    "vascular lesions",
)


def _zenodo(name: str) -> dict[int, dict[str, str]]:
    return {
        size: {
            "filename": f"{name}.npz" if size == 28 else f"{name}_{size}.npz",
            "url": f"{MEDMNIST_RECORD}/files/{name}{'' if size == 28 else f'_{size}'}.npz?download=1",
        }
        for size in MEDMNIST_SIZES
    }


def _with_md5(files: dict[int, dict[str, str]], md5: dict[int, str]) -> dict[int, dict[str, str]]:
    for size, checksum in md5.items():
        files[size]["md5"] = checksum
    return files


INFO: dict[str, dict[str, Any]] = {
    "pneumoniamnist": {
        "title": "PneumoniaMNIST",
        "kind": "medmnist",
        "modality": "chest X-ray",
        "description": (
            "5,856 paediatric chest X-rays (Kermany et al. 2018), centre-cropped and resized. "
            "Binary task: pneumonia against normal. The source training set is split 9:1 into "
            "train and val; the source's own test collection is the test split."
        ),
        "task": "binary",
        "label_names": ("normal", "pneumonia"),
        "n_channels": 1,
        "n_samples": {"train": 4708, "val": 524, "test": 624},
        "sizes": MEDMNIST_SIZES,
        "files": _with_md5(
            _zenodo("pneumoniamnist"),
            {
                28: "28209eda62fecd6e6a2d98b1501bb15f",
                64: "8f4eceb4ccffa70c672198ea285246c6",
                128: "05b46931834c231683c68f40c47b2971",
                224: "d6a3c71de1b945ea11211b03746c1fe1",
            },
        ),
        "homepage": "https://medmnist.com/",
        "license": "CC BY 4.0",
        "source_license": "CC BY 4.0 (Kermany et al. 2018)",
        "citation": (MEDMNIST_CITATION, KERMANY_CITATION),
        "phantom": "pneumonia",
        "augment": "xray",
        "default_size": 28,
        "card": "datasets/pneumoniamnist.md",
    },
    "dermamnist": {
        "title": "DermaMNIST",
        "kind": "medmnist",
        "modality": "dermoscopy",
        "description": (
            "10,015 dermatoscopic images of pigmented skin lesions from HAM10000, 7 diagnostic "
            "classes, split 7:1:2 into train, val and test (images, not lesions, were split)."
        ),
        "task": "multiclass",
        "label_names": HAM10000_NAMES,
        "label_codes": HAM10000_CODES,
        "n_channels": 3,
        "n_samples": {"train": 7007, "val": 1003, "test": 2005},
        "sizes": MEDMNIST_SIZES,
        "files": _with_md5(
            _zenodo("dermamnist"),
            {
                28: "0744692d530f8e62ec473284d019b0c7",
                64: "b70a2f5635c6199aeaa28c31d7202e1f",
                128: "2defd784463fa5243564e855ed717de1",
                224: "8974907d8e169bef5f5b96bc506ae45d",
            },
        ),
        "homepage": "https://medmnist.com/",
        "license": "CC BY-NC 4.0",
        "source_license": "CC BY-NC 4.0 (HAM10000, Tschandl et al. 2018): non-commercial use only",
        "citation": (MEDMNIST_CITATION, HAM10000_CITATION),
        "phantom": "skin",
        "augment": "dermoscopy",
        "default_size": 28,
        "card": "datasets/dermamnist.md",
    },
    "retinamnist": {
        "title": "RetinaMNIST",
        "kind": "medmnist",
        "modality": "fundus photograph",
        "description": (
            "1,600 retinal fundus images from the DeepDRiD challenge, graded 0-4 for diabetic "
            "retinopathy (ordinal). The source training set is split 9:1 into train and val; the "
            "source validation set is the test split."
        ),
        "task": "ordinal",
        "label_names": ("0 no DR", "1 mild NPDR", "2 moderate NPDR", "3 severe NPDR", "4 PDR"),
        "n_channels": 3,
        "n_samples": {"train": 1080, "val": 120, "test": 400},
        "sizes": MEDMNIST_SIZES,
        "files": _with_md5(
            _zenodo("retinamnist"),
            {
                28: "bd4c0672f1bba3e3a89f0e4e876791e4",
                64: "afda852cc34dcda56f86ad2b2457dbcc",
                128: "e48e916a24454daf90583d4e6efb1a18",
                224: "eae7e3b6f3fcbda4ae613ebdcbe35348",
            },
        ),
        "homepage": "https://medmnist.com/",
        "license": "CC BY 4.0",
        "source_license": "CC BY 4.0 (DeepDRiD, Liu et al. 2022)",
        "citation": (MEDMNIST_CITATION, DEEPDRID_CITATION),
        "phantom": "retina",
        "augment": "fundus",
        "default_size": 28,
        "card": "datasets/retinamnist.md",
    },
    "chest_xray": {
        "title": "Chest X-Ray Images (Pneumonia), Kermany et al. 2018",
        "kind": "image_folder",
        "modality": "chest X-ray",
        "description": (
            "Paediatric chest X-rays in the Kaggle 'chest_xray' layout: "
            "chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg. load() splits the training "
            "folder by patient into train and val (90/10, stratified, seed 0); test is the "
            "test folder; the official 16-image val folder is not used."
        ),
        "task": "binary",
        "label_names": ("normal", "pneumonia"),
        "class_folders": ("NORMAL", "PNEUMONIA"),
        "folder": "chest_xray",
        "n_channels": 1,
        "n_samples": {"train": 5216, "val": 16, "test": 624},
        "class_counts": {"train": (1341, 3875), "val": (8, 8), "test": (234, 390)},
        "val_fraction": 0.1,
        "split_seed": 0,
        "default_size": 128,
        "url": "https://data.mendeley.com/datasets/rscbjbr9sj/2",
        "mirror": "https://www.kaggle.com/datasets/paultimothymooney/chest-xray-pneumonia",
        "homepage": "https://data.mendeley.com/datasets/rscbjbr9sj/2",
        "license": "CC BY 4.0",
        "source_license": "CC BY 4.0",
        "citation": (KERMANY_CITATION,),
        "phantom": "pneumonia",
        "augment": "xray",
        "card": "datasets/chest_xray.md",
    },
    "ham10000": {
        "title": "HAM10000 (Human Against Machine with 10000 training images)",
        "kind": "csv",
        "modality": "dermoscopy",
        "description": (
            "Dermatoscopic images with metadata.csv (image_id, lesion_id, dx, dx_type, age, sex, "
            "localization). Several images may show one lesion: splits are grouped by lesion_id. "
            "No official split is shipped: load() makes a deterministic lesion-grouped, "
            "class-stratified 70/15/15 train/val/test split (seed 0)."
        ),
        "task": "multiclass",
        "label_names": HAM10000_NAMES,
        "label_codes": HAM10000_CODES,
        "label_column": "dx",
        "group_column": "lesion_id",
        "image_column": "image_id",
        "clinical_columns": ("dx_type", "age", "sex", "localization"),
        "folder": "ham10000",
        "images_folder": "images",
        "metadata_file": "metadata.csv",
        "val_fraction": 0.15,
        "test_fraction": 0.15,
        "split_seed": 0,
        "default_size": 128,
        "n_channels": 3,
        "n_samples": {"all": 10015},
        "url": "https://doi.org/10.7910/DVN/DBW86T",
        "homepage": "https://doi.org/10.7910/DVN/DBW86T",
        "license": "CC BY-NC 4.0",
        "source_license": "CC BY-NC 4.0: non-commercial use only",
        "citation": (HAM10000_CITATION,),
        "phantom": "skin",
        "augment": "dermoscopy",
        "card": "datasets/ham10000.md",
    },
}

for _name, _row in INFO.items():
    _row["name"] = _name
    _row["n_classes"] = len(_row["label_names"])
del _name, _row


def get_info(name: str) -> dict[str, Any]:
    """The INFO row of a dataset, with a helpful error for an unknown name."""
    key = str(name).strip().lower()
    if key not in INFO:
        raise KeyError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(INFO))}")
    return INFO[key]
