"""Synthetic demo data: Ningbo enterprises' utility bills and their social insurance.

Realistic enough to exercise every rule (valid credit codes, skewed money,
sparse district × industry groups) and fast: 100,000 rows in about a second.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from faker import Faker

DEMO_FOLDER = Path(__file__).parent / "demo"
ENTERPRISE_SCHEMA = DEMO_FOLDER / "enterprise_utilities.yaml"
SOCIAL_SECURITY_SCHEMA = DEMO_FOLDER / "social_security.yaml"

# 统一社会信用代码 (GB 32100-2015): 31 characters, weights 3^i mod 31.
CREDIT_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)])
# 组织机构代码 (GB 11714-1997), the code's characters 9-17.
ORGANIZATION_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2])


@dataclass(frozen=True)
class District:
    """A 宁波市 district: administrative division code, share of firms, a few real streets."""

    code: str
    weight: float
    street_list: str

    @property
    def streets(self) -> tuple[str, ...]:
        return tuple(self.street_list.split())


NINGBO: dict[str, District] = {
    "海曙区": District("330203", 0.13, "南门街道 月湖街道 鼓楼街道 石碶街道 集士港镇"),
    "江北区": District("330205", 0.08, "中马街道 白沙街道 孔浦街道 甬江街道 慈城镇"),
    "北仑区": District("330206", 0.11, "新碶街道 小港街道 大碶街道 霞浦街道 柴桥街道"),
    "镇海区": District("330211", 0.06, "招宝山街道 蛟川街道 骆驼街道 庄市街道 澥浦镇"),
    "鄞州区": District("330212", 0.20, "首南街道 中河街道 钟公庙街道 下应街道 姜山镇"),
    "奉化区": District("330213", 0.05, "锦屏街道 岳林街道 江口街道 西坞街道 溪口镇"),
    "余姚市": District("330281", 0.12, "阳明街道 梨洲街道 凤山街道 兰江街道 泗门镇"),
    "慈溪市": District("330282", 0.15, "浒山街道 白沙路街道 古塘街道 宗汉街道 周巷镇"),
    "宁海县": District("330226", 0.05, "跃龙街道 桃源街道 梅林街道 西店镇 长街镇"),
    "象山县": District("330225", 0.05, "丹东街道 丹西街道 爵溪街道 石浦镇 西周镇"),
}


@dataclass(frozen=True)
class Industry:
    """A GB/T 4754-2017 section, and how its firms use water, power and gas.

    Fees are annual yuan per employee^0.9 before lognormal spread; `size` scales
    the median headcount; `words` appear in company names.
    """

    weight: float
    size: float
    water: float
    electricity: float
    gas: float
    gas_share: float
    words: tuple[str, ...]


INDUSTRIES: dict[str, Industry] = {
    "农、林、牧、渔业": Industry(0.02, 1.0, 1200, 3000, 300, 0.1, ("农业", "水产养殖", "果蔬")),
    "采矿业": Industry(0.002, 2.0, 1500, 30000, 2000, 0.3, ("矿业", "石料")),
    "制造业": Industry(0.34, 2.5, 800, 20000, 3000, 0.5, ("机械", "模具", "五金", "电器")),
    "电力、热力、燃气及水生产和供应业": Industry(
        0.004, 3.0, 3000, 40000, 5000, 0.6, ("能源", "热电")
    ),
    "建筑业": Industry(0.06, 2.0, 400, 2000, 200, 0.1, ("建设工程", "建筑装饰")),
    "批发和零售业": Industry(0.30, 0.6, 150, 3000, 300, 0.1, ("贸易", "商贸", "进出口")),
    "交通运输、仓储和邮政业": Industry(0.04, 1.5, 200, 5000, 400, 0.1, ("物流", "货运代理")),
    "住宿和餐饮业": Industry(0.05, 1.2, 2500, 8000, 9000, 0.9, ("餐饮管理", "酒店管理")),
    "信息传输、软件和信息技术服务业": Industry(
        0.05, 1.0, 80, 4000, 100, 0.05, ("网络科技", "信息技术")
    ),
    "房地产业": Industry(0.02, 1.0, 200, 2500, 300, 0.1, ("房地产开发", "物业管理")),
    "租赁和商务服务业": Industry(0.08, 0.8, 100, 2000, 100, 0.05, ("企业管理咨询", "广告")),
    "科学研究和技术服务业": Industry(0.034, 1.0, 150, 5000, 300, 0.1, ("检测技术", "工程设计")),
}
# Where an industry is rare, so a few district × industry groups stay below threshold.
LOCAL_FACTORS = {
    ("采矿业", "宁海县"): 6.0,
    ("采矿业", "象山县"): 6.0,
    ("采矿业", "奉化区"): 3.0,
    ("采矿业", "江北区"): 0.3,
    ("采矿业", "海曙区"): 0.2,
    ("采矿业", "鄞州区"): 0.15,
    ("电力、热力、燃气及水生产和供应业", "镇海区"): 4.0,
    ("电力、热力、燃气及水生产和供应业", "象山县"): 0.2,
    ("农、林、牧、渔业", "象山县"): 5.0,
    ("农、林、牧、渔业", "江北区"): 0.05,
    ("信息传输、软件和信息技术服务业", "鄞州区"): 2.5,
    ("信息传输、软件和信息技术服务业", "宁海县"): 0.02,
}
BOUNDS = {
    "capital": 1e8,
    "employees": 5000,
    "water_fee": 1e6,
    "electricity_fee": 2e7,
    "gas_fee": 5e6,
}
TRADE_NAME_CHARS = (
    "恒瑞鑫华德盛兴达宏泰信隆丰源通祥安和佳宇成新天海嘉诚博创远锦卓凯欣荣顺明昌正益润航腾甬越"
)
MOBILE_PREFIXES = np.array(
    [f"13{d}" for d in range(10)]
    + ["150", "151", "152", "153", "155", "156", "157", "158", "159"]
    + ["166", "177", "180", "181", "182", "183", "185", "186", "187", "188", "189", "198", "199"]
)
USCC_START = np.datetime64("2015-10-01")
DIGITS = np.array(list("0123456789"))
CREDIT_ALPHABET = np.array(list(CREDIT_CHARSET))
CREDIT_INDEX = np.full(128, -1)
CREDIT_INDEX[[ord(ch) for ch in CREDIT_CHARSET]] = np.arange(31)


def credit_check_char(first17: str) -> str:
    """The 18th character of a unified social credit code (GB 32100-2015)."""
    pairs = zip(first17, CREDIT_WEIGHTS, strict=True)
    total = sum(CREDIT_CHARSET.index(ch) * int(weight) for ch, weight in pairs)
    return CREDIT_CHARSET[(31 - total % 31) % 31]


def organization_check_char(body8: str) -> str:
    """The 9th character of an organization code (GB 11714-1997): 0-9 or X."""
    pairs = zip(body8, ORGANIZATION_WEIGHTS, strict=True)
    total = sum(_gb11714_value(ch) * int(weight) for ch, weight in pairs)
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def _gb11714_value(ch: str) -> int:
    return int(ch) if ch.isdigit() else ord(ch) - 55


def is_valid_credit_code(code: str) -> bool:
    """Both check characters hold, and every character is in the code's alphabet."""
    return (
        len(code) == 18
        and all(ch in CREDIT_CHARSET for ch in code)
        and credit_check_char(code[:17]) == code[17]
        and organization_check_char(code[8:16]) == code[16]
    )


def _credit_codes(
    rng: np.random.Generator, divisions: np.ndarray, founded: np.ndarray
) -> np.ndarray:
    """Vectorised codes: 9 (market regulator) + 1 (enterprise) + division + org code + checks.

    Enterprises founded after the 2015 reform get the new 'MA2…' organization codes;
    older ones keep numeric ones. Duplicates are redrawn until none remain.
    """
    rows = len(divisions)
    chars = np.full((rows, 18), "0", dtype="<U1")
    chars[:, 0], chars[:, 1] = "9", "1"
    chars[:, 2:8] = divisions.astype("<U6")[:, None].view("<U1").reshape(rows, 6)
    newer = founded >= USCC_START
    todo = np.arange(rows)
    while len(todo):
        body = rng.choice(DIGITS, size=(len(todo), 8))
        is_new = newer[todo]
        body[is_new, :3] = ["M", "A", "2"]
        body[is_new, 3:] = rng.choice(CREDIT_ALPHABET, size=(int(is_new.sum()), 5))
        chars[todo, 8:16] = body
        codes = pd.Series(chars.view("<U18").ravel())
        todo = np.flatnonzero(codes.duplicated().to_numpy())
    points = chars.view(np.uint32).reshape(rows, 18).astype(np.int64)
    values = np.where(points[:, 8:16] <= ord("9"), points[:, 8:16] - 48, points[:, 8:16] - 55)
    org = 11 - (values @ ORGANIZATION_WEIGHTS) % 11
    chars[:, 16] = np.where(org == 10, "X", np.where(org == 11, "0", org.astype("<U2")))
    points[:, 16] = chars[:, 16].view(np.uint32)
    total = CREDIT_INDEX[points[:, :17]] @ CREDIT_WEIGHTS
    chars[:, 17] = CREDIT_ALPHABET[(31 - total % 31) % 31]
    return chars.view("<U18").ravel().copy()


def _pools(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Faker is slow per call, so draw person names and trade names (字号) once, then sample."""
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    people = np.array(sorted({fake.name() for _ in range(4000)}))
    rng = np.random.default_rng(seed)
    chars = np.array(list(TRADE_NAME_CHARS))
    pairs = rng.choice(chars, size=(6000, 2))
    trade_names = np.unique(np.char.add(pairs[:, 0], pairs[:, 1]))
    trade_names = trade_names[np.char.str_len(trade_names) == 2]
    return people, trade_names


def _district_industry_cells() -> tuple[list[tuple[str, str]], np.ndarray]:
    cells, weights = [], []
    for district, place in NINGBO.items():
        for industry, section in INDUSTRIES.items():
            cells.append((district, industry))
            local = LOCAL_FACTORS.get((industry, district), 1.0)
            weights.append(place.weight * section.weight * local)
    probabilities = np.array(weights)
    return cells, probabilities / probabilities.sum()


def _company_names(rng: np.random.Generator, frame: pd.DataFrame, trade: np.ndarray) -> pd.Series:
    """E.g. 宁波恒瑞机械有限公司, 宁波市鄞州博创贸易有限公司, 慈溪市嘉诚电器有限公司."""
    rows = len(frame)
    district = frame["district"]
    county = district.str.endswith(("市", "县"))
    place = np.where(
        county,
        district,
        np.where(rng.random(rows) < 0.5, "宁波", "宁波市" + district.str.slice(0, 2)),
    )
    words = pd.Series("", index=frame.index)
    for industry, section in INDUSTRIES.items():
        rows_in = (frame["industry"] == industry).to_numpy()
        words[rows_in] = rng.choice(np.array(section.words), size=int(rows_in.sum()))
    suffix = rng.choice(
        np.array(["有限公司", "有限责任公司", "股份有限公司"]), size=rows, p=[0.85, 0.1, 0.05]
    )
    return pd.Series(place, index=frame.index) + rng.choice(trade, size=rows) + words + suffix


def _skewed_fee(
    rng: np.random.Generator, employees: np.ndarray, rate: np.ndarray, high: float
) -> np.ndarray:
    fee = rate * employees**0.9 * rng.lognormal(0.0, 0.7, size=len(employees))
    return np.round(np.clip(fee, 0.0, high), 2)


def generate_enterprises(rows: int, seed: int) -> pd.DataFrame:
    """Ningbo enterprises with a year of water, electricity and gas bills (raw, pre-ingest)."""
    rng = np.random.default_rng(seed)
    people, trade = _pools(seed)
    cells, probabilities = _district_industry_cells()
    picked = rng.choice(len(cells), size=rows, p=probabilities)
    district = np.array([d for d, _ in cells])[picked]
    industry = np.array([i for _, i in cells])[picked]
    frame = pd.DataFrame({"district": district, "industry": industry})

    street = np.empty(rows, dtype=object)
    for name, place in NINGBO.items():
        rows_in = district == name
        street[rows_in] = rng.choice(np.array(place.streets), size=int(rows_in.sum()))
    # Young firms outnumber old ones: ages are exponential, at most 40 years.
    age_days = np.minimum(rng.exponential(8 * 365.25, size=rows), 40 * 365.25).astype(int)
    founded = np.datetime64("2024-12-31") - age_days.astype("timedelta64[D]")

    table = np.array(
        [[s.size, s.water, s.electricity, s.gas, s.gas_share] for s in INDUSTRIES.values()]
    )
    position = pd.Series(industry).map({name: k for k, name in enumerate(INDUSTRIES)})
    size, water, electricity, gas_rate, gas_share = table[position.to_numpy()].T
    median_staff = np.log(8.0 * size)
    employees = np.clip(np.round(rng.lognormal(median_staff, 1.3)), 1, BOUNDS["employees"])
    employees = employees.astype(int)
    capital = np.clip(employees * rng.lognormal(np.log(8e4), 0.9, size=rows), 1e4, 1e8)
    has_gas = rng.random(rows) < gas_share

    divisions = pd.Series(district).map({d: p.code for d, p in NINGBO.items()}).to_numpy()
    frame.insert(0, "enterprise_id", _credit_codes(rng, divisions, founded))
    frame.insert(1, "name", _company_names(rng, frame, trade))
    frame.insert(2, "legal_person", rng.choice(people, size=rows))
    frame.insert(
        3, "phone", np.char.add(rng.choice(MOBILE_PREFIXES, size=rows), _digits(rng, rows, 8))
    )
    frame.insert(5, "street", street.astype(str))
    frame["founded"] = pd.Series(founded).astype(pd.ArrowDtype(pa.date32()))
    frame["capital"] = np.round(capital, -4)
    frame["employees"] = employees
    frame["water_fee"] = _skewed_fee(rng, employees, water, BOUNDS["water_fee"])
    frame["electricity_fee"] = _skewed_fee(rng, employees, electricity, BOUNDS["electricity_fee"])
    gas = _skewed_fee(rng, employees, gas_rate, BOUNDS["gas_fee"])
    frame["gas_fee"] = np.where(has_gas, gas, 0.0)
    return frame


def _digits(rng: np.random.Generator, rows: int, width: int) -> np.ndarray:
    numbers = rng.integers(0, 10**width, size=rows)
    return np.char.zfill(numbers.astype(f"<U{width}"), width)


def generate_social_security(enterprises: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Social insurance (社保) per enterprise, keyed by the same raw credit codes.

    About nine in ten enterprises appear, so a join shows both matches and gaps.
    Contributions follow Zhejiang's employer share (about 27% of the wage base).
    """
    rng = np.random.default_rng(seed + 1)
    covered = enterprises[rng.random(len(enterprises)) < 0.9]
    rows = len(covered)
    staff = rng.binomial(covered["employees"].to_numpy(), 0.85)
    base = np.clip(rng.lognormal(np.log(6500.0), 0.3, size=rows), 4462.0, 30000.0)
    contribution = np.clip(staff * base * 12 * 0.27, 0.0, 5e7)
    return pd.DataFrame(
        {
            "enterprise_id": covered["enterprise_id"].to_numpy(),
            "account_no": np.char.add("3302", _digits(rng, rows, 10)),
            "insured_staff": staff,
            "contribution": np.round(contribution, 2),
        }
    )


def write_demo_files(folder: Path, rows: int, seed: int) -> tuple[Path, Path]:
    """Write enterprise_utilities.csv (UTF-8) and its schema; return (csv, schema)."""
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "enterprise_utilities.csv"
    generate_enterprises(rows, seed).to_csv(csv, index=False, encoding="utf-8")
    schema = Path(shutil.copyfile(ENTERPRISE_SCHEMA, folder / ENTERPRISE_SCHEMA.name))
    return csv, schema


def write_social_security_files(
    folder: Path, enterprises: pd.DataFrame, seed: int
) -> tuple[Path, Path]:
    """Write social_insurance.csv and its schema, for join demos; return (csv, schema)."""
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "social_insurance.csv"
    generate_social_security(enterprises, seed).to_csv(csv, index=False, encoding="utf-8")
    schema = Path(shutil.copyfile(SOCIAL_SECURITY_SCHEMA, folder / SOCIAL_SECURITY_SCHEMA.name))
    return csv, schema
