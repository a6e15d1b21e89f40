#!/usr/bin/env python3
"""Writes fixtures/catalogue/implementations.toml from the item files beside it.

Every implementation is synthetic and says so: the implementing bodies are the real kinds of
body (a city's public security bureau, the provincial tax bureau …), but their credit codes
are generated (authority 1, category 1, the body's division, an organisation code built from
the department number and the division) with valid GB 11714 and GB 32100 check characters.

Rules, all below and deterministic:
- an item listed in PROVINCE_LEVEL is implemented once, by the provincial body (level 2);
- every other item is implemented in each of Guangdong's 21 cities (level 3);
- DISTRICT_LEVEL adds district implementations (level 4) that take precedence in that district;
- NOT_IMPLEMENTED, NOT_SELF_SERVICE and DISABLED are the exceptions a real rollout has;
- the back-end schedule follows from the item: payments `payment`, applications and bookings
  `office-hours`, tax services `tax-online`, the rest `always`.

Run from the repository root: python3 scripts/gen-implementations.py
"""
import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "catalogue"

CITIES = [
    ("440100", "广州市"), ("440200", "韶关市"), ("440300", "深圳市"), ("440400", "珠海市"),
    ("440500", "汕头市"), ("440600", "佛山市"), ("440700", "江门市"), ("440800", "湛江市"),
    ("440900", "茂名市"), ("441200", "肇庆市"), ("441300", "惠州市"), ("441400", "梅州市"),
    ("441500", "汕尾市"), ("441600", "河源市"), ("441700", "阳江市"), ("441800", "清远市"),
    ("441900", "东莞市"), ("442000", "中山市"), ("445100", "潮州市"), ("445200", "揭阳市"),
    ("445300", "云浮市"),
]

DEPARTMENTS = {
    # department: (number for generated organisation codes, provincial body, city body pattern)
    "public-security": (1, "广东省公安厅", "{city}公安局"),
    "hr-social-security": (2, "广东省人力资源和社会保障厅", "{city}人力资源和社会保障局"),
    "justice": (3, "广东省司法厅", "{city}司法局"),
    "civil-affairs": (4, "广东省民政厅", "{city}民政局"),
    "health": (5, "广东省卫生健康委员会", "{city}卫生健康局"),
    "taxation": (6, "国家税务总局广东省税务局", "国家税务总局{city}税务局"),
    "disabled-persons": (7, "广东省残疾人联合会", "{city}残疾人联合会"),
    "natural-resources": (8, "广东省自然资源厅", "{city}自然资源局"),
    "housing-fund": (9, "广东省住房和城乡建设厅", "{city}住房公积金管理中心"),
}
# Where a city's body has another name.
BODY_NAMES = {
    ("natural-resources", "440100"): "广州市规划和自然资源局",
    ("natural-resources", "440300"): "深圳市规划和自然资源局",
    ("health", "440100"): "广州市卫生健康委员会",
}

PROVINCE_LEVEL = {
    "出入境证件办理进度查询", "往来港澳通行证再次签注", "往来台湾通行证再次签注", "出入境记录查询",
    "养老保险待遇资格认证", "职工养老保险转移接续进度查询",
    # The provincial tax bureau runs one system for the province.
    "个人所得税纳税记录开具", "税收完税证明开具", "城乡居民基本医疗保险费缴纳", "城乡居民基本养老保险费缴纳",
    "灵活就业人员社会保险费缴纳", "车船税缴纳", "个人所得税年度汇算结果查询", "非税收入缴款（一般缴款书）",
    "个人所得税专项附加扣除信息查询", "发票真伪查验", "社会保险费缴费证明打印", "个人房产交易税费缴纳",
    "个人所得税收入纳税明细查询", "个人所得税完税证明（文书式）开具", "车船税缴纳记录查询", "契税缴纳",
}
DISTRICT_LEVEL = {
    ("居住证签注", "440106", "广州市公安局天河区分局"),
    ("户籍证明开具", "440304", "深圳市公安局福田分局"),
}
NOT_IMPLEMENTED = {
    ("城乡居民养老保险参保登记", "440300"),  # Shenzhen has no rural residents' scheme
    ("农村部分计划生育家庭奖励扶助申请", "440300"),
    ("殡葬惠民补贴申领", "440300"),
}
NOT_SELF_SERVICE = {("法律援助申请", "440800"), ("法律援助申请", "440900")}  # counter only there
DISABLED = {("交通违法罚款缴纳", "440500")}  # switched off during a platform migration

A = "0123456789ABCDEFGHJKLMNPQRTUWXY"
W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def org_check(code8):
    s = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(code8, [3, 7, 9, 10, 5, 8, 4, 2]))
    r = 11 - s % 11
    return "X" if r == 10 else ("0" if r == 11 else str(r))


def credit_code(division, dept_no):
    first16 = f"11{division}{dept_no:02d}{division}"
    first16 = first16[:16]
    c17 = first16 + org_check(first16[8:16])
    s = sum(A.index(x) * w for x, w in zip(c17, W))
    return c17 + A[(31 - s % 31) % 31]


def backend(department, item):
    if item["fee"] == "per-notice":
        return "payment"
    scans = any(m.get("source") == "scan" for m in item.get("material", []))
    if item["case_type"] == "promised" or item.get("appointment") or scans:
        return "office-hours"
    if department == "taxation":
        return "tax-online"
    return "always"


def main():
    rows = []
    for path in sorted(ROOT.glob("*.toml")):
        if path.name in ("implementations.toml", "backends.toml"):
            continue
        data = tomllib.loads(path.read_text())
        dept = data["department"]
        dept_no, provincial, pattern = DEPARTMENTS[dept]
        for item in data["item"]:
            name, basic = item["name"], item["code"]
            be = backend(dept, item)
            if name in PROVINCE_LEVEL:
                rows.append((basic, "440000", 2, provincial, be, True, True, dept_no))
                continue
            for division, city in CITIES:
                if (name, division) in NOT_IMPLEMENTED:
                    continue
                body = BODY_NAMES.get((dept, division), pattern.format(city=city))
                rows.append((basic, division, 3, body, be, (name, division) not in NOT_SELF_SERVICE,
                             (name, division) not in DISABLED, dept_no))
            for (n, division, body) in sorted(DISTRICT_LEVEL):
                if n == name:
                    rows.append((basic, division, 4, body, be, True, True, dept_no))
    out = [
        "# Implementations of the catalogue's items in Guangdong's divisions (实施清单).",
        "#",
        "# GENERATED by scripts/gen-implementations.py from the item files; edit the script's rules,",
        "# not this file. Every code is synthetic (synthetic = true): implementing bodies are named as",
        "# such bodies are, their credit codes are generated with valid check characters.",
        "",
        "implementation = [",
    ]
    for basic, division, level, body, be, self_service, enabled, dept_no in rows:
        code = credit_code(division, dept_no) + str(level) + basic
        extra = ""
        if not self_service:
            extra += ", self_service = false"
        if not enabled:
            extra += ", enabled = false"
        out.append(
            f'  {{ code = "{code}", synthetic = true, division = "{division}", body = "{body}", backend = "{be}"{extra} }},'
        )
    out.append("]")
    (ROOT / "implementations.toml").write_text("\n".join(out) + "\n")
    print(f"{len(rows)} implementations written")


if __name__ == "__main__":
    main()
