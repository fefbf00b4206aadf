"""Synthetic newspaper articles about Dalian, as a ``records/``-style tree, for the benchmarks.

The benchmarks need tens of thousands of records that look like the real
collection (媒体上的大连: MODS 3.8 articles built the way ``records.md`` describes,
with a Chinese full text beside each one), so that parsing, validation,
crosswalk and storage costs are the ones production will see. Every record is
built with :func:`repository.mods.build_mods`, so the generator cannot drift
from the encoding the repository itself writes, and every record says in its
``recordOrigin`` that it is synthetic.

Deterministic: record *i* of seed *s* comes from its own ``random.Random`` seeded
with ``(s, i)``, so a tree's content does not depend on how many worker
processes wrote it, and the first *k* records of a large tree are the records
of a tree of *k*.

Usage::

    python bench/generate.py N OUTDIR [--seed S] [--workers W]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lxml import etree  # noqa: E402

from repository import xmlio  # noqa: E402
from repository.mods import Article, Host, Name, Subject, Title, build_mods  # noqa: E402

BASE_URL = "http://127.0.0.1:5000"
COLLECTION = "media"
COLLECTION_TITLE = "媒体上的大连专题数据库"
ORIGIN = "synthetic benchmark data, not a real article"
CONTENT_SOURCE = "大连图书馆"
CHUNK = 500

# --------------------------------------------------------------------------- vocabulary

#: (newspaper, weight, page style). Page styles: "AB" = A1…A16/B1…B8, "num" = 01…24, None = web, no page.
NEWSPAPERS: list[tuple[str, int, str | None]] = [
    ("大连日报", 28, "AB"),
    ("大连晚报", 18, "AB"),
    ("半岛晨报", 14, "AB"),
    ("辽宁日报", 10, "num"),
    ("新商报", 5, "AB"),
    ("人民日报", 3, "num"),
    ("光明日报", 2, "num"),
    ("经济日报", 3, "num"),
    ("新华每日电讯", 2, "num"),
    ("大连新闻网", 6, None),
    ("东北新闻网", 6, None),
]
ENGLISH_PAPER = ("中国日报", "num")
ENGLISH_SHARE = 0.03

PLACES = [
    "大连",
    "金普新区",
    "旅顺口区",
    "甘井子区",
    "中山区",
    "沙河口区",
    "西岗区",
    "高新区",
    "长海县",
    "瓦房店市",
    "庄河市",
    "普兰店区",
    "星海广场",
    "老码头",
    "大连港",
    "大窑湾",
    "太平湾",
    "长兴岛",
    "金石滩",
    "东港",
    "滨海路",
    "棒棰岛",
    "老虎滩",
    "天津街",
    "青泥洼桥",
    "大连湾",
    "旅顺口",
    "星海湾",
    "小平岛",
    "凌水",
    "夏家河子",
    "付家庄",
    "黑石礁",
    "西安路",
    "华南广场",
    "东关街",
    "俄罗斯风情街",
    "辽宁自贸试验区大连片区",
    "大连湾海底隧道",
    "大连北站",
    "周水子机场",
    "大长山岛",
    "獐子岛",
    "东北亚",
    "辽东半岛",
    "渤海湾",
    "黄海之滨",
    "花园口经济区",
    "松木岛化工园区",
    "双岛湾",
]
ACTORS = [
    "市委市政府",
    "区委区政府",
    "市商务局",
    "市发展改革委",
    "市文化和旅游局",
    "市交通运输局",
    "市生态环境局",
    "市科技局",
    "大连港集团",
    "大连海事大学",
    "大连理工大学",
    "辽宁师范大学",
    "东北财经大学",
    "大连医科大学",
    "中科院大连化物所",
    "大连船舶重工",
    "大连机车",
    "瓦轴集团",
    "大连石化",
    "恒力石化",
    "英特尔大连工厂",
    "大商集团",
    "街道社区",
    "社区志愿者",
    "广大市民",
    "外地游客",
    "当地渔民",
    "日资企业",
    "韩国客商",
    "民营企业",
    "科研团队",
    "园区管委会",
    "文旅部门",
    "交警部门",
    "消防救援队伍",
    "医疗卫生机构",
    "中小学校",
    "青年创业者",
]
VERBS = [
    "推进",
    "加快",
    "打造",
    "优化",
    "完善",
    "建设",
    "培育",
    "提升",
    "深化",
    "拓展",
    "启动",
    "落实",
    "举办",
    "签约",
    "开工",
    "投产",
    "扩大",
    "聚焦",
    "助力",
    "服务",
    "保障",
    "布局",
    "升级",
    "谋划",
]
OBJECTS = [
    "营商环境",
    "项目建设",
    "海洋经济",
    "冷链物流",
    "造船产业",
    "石化产业",
    "港航物流",
    "跨境电商",
    "集成电路",
    "新能源汽车",
    "氢能产业",
    "海洋牧场",
    "海参养殖",
    "樱桃种植",
    "苹果产业",
    "旅游度假区",
    "东北亚国际航运中心",
    "自贸试验区",
    "口岸通关",
    "中欧班列",
    "邮轮母港",
    "滨海旅游",
    "城市更新",
    "老旧小区改造",
    "地铁线路",
    "跨海大桥",
    "5G基站",
    "数字经济",
    "软件和信息服务",
    "服务外包",
    "装备制造",
    "数控机床",
    "轴承产业",
    "轨道交通装备",
    "医疗服务",
    "养老服务",
    "足球文化",
    "国际服装节",
    "国际啤酒节",
    "国际马拉松",
    "国际徒步大会",
    "赏槐会",
    "中心渔港",
    "海水淡化",
    "湿地保护",
    "斑海豹保护",
    "垃圾分类",
    "乡村振兴",
    "人才引进",
    "科技创新",
    "高新技术企业",
    "民营经济",
    "对外开放",
    "中日韩经贸合作",
    "绿色石化基地",
    "清洁能源",
    "海上风电",
    "智慧港口",
    "集装箱航线",
    "粮食物流",
    "汽车滚装",
    "夜间经济",
    "老字号品牌",
    "文化遗产保护",
    "历史街区",
    "公共文化服务",
]
RESULTS = [
    "取得明显成效",
    "迈出坚实步伐",
    "跑出加速度",
    "按下快进键",
    "实现开门红",
    "呈现良好势头",
    "焕发新活力",
    "再上新台阶",
    "交出亮眼答卷",
    "开创新局面",
    "释放新动能",
    "持续向好",
]
TAILS = [
    "为全面振兴新突破注入强劲动能",
    "受到社会各界广泛关注",
    "进一步增强了城市综合竞争力",
    "群众获得感幸福感不断提升",
    "为高质量发展提供有力支撑",
    "成为区域经济新的增长点",
    "吸引了众多市民前来参观",
    "得到企业和群众的一致好评",
    "带动周边产业链协同发展",
    "让这座海滨城市更有温度",
    "推动东北亚区域合作不断深化",
    "擦亮了浪漫之都的城市名片",
    "展现出老工业基地的新面貌",
    "为建设现代化国际化城市打下基础",
    "让老百姓看得见摸得着",
]
TIMES = [
    "今年以来,",
    "近日,",
    "日前,",
    "昨天,",
    "上周,",
    "一季度,",
    "上半年,",
    "去年,",
    "近年来,",
    "春节过后,",
    "入夏以来,",
    "“十四五”期间,",
    "截至目前,",
    "",
    "",
    "",
]
SCENES = [
    "工地上塔吊林立、车辆往来穿梭",
    "码头上集装箱堆放整齐、桥吊忙碌作业",
    "广场上游人如织、笑语不断",
    "车间里机器轰鸣、工人们正在赶制订单",
    "海面上渔船归港、渔民们忙着卸货",
    "街道两旁绿树成荫、店铺林立",
    "展厅里人头攒动、洽谈气氛热烈",
    "社区服务中心里居民们排队办理业务",
    "实验室里科研人员正在调试设备",
    "老码头旁的早市热闹非凡",
    "海边栈道上不少市民在晨练",
    "冷库里温度常年保持在零下十八摄氏度",
]
QUOTES = [
    "我们将继续抓好项目建设,确保早开工、早投产、早见效",
    "营商环境就是生产力,我们要做到服务无止境",
    "这几年家门口的变化太大了,生活越来越方便",
    "海洋是大连最大的优势,也是最大的潜力",
    "企业有需求,我们就第一时间上门服务",
    "希望更多年轻人留在大连、建设大连",
    "港口是大连的根,东北亚国际航运中心建设正当其时",
    "我们的订单已经排到了明年下半年",
]
UNITS = ["个", "家", "项", "条", "座"]

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶"
    "阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红玲建国立新东海波宁晓丹雪梅鹏飞辉宇浩然"
    "欣怡佳琪子涵思远俊博文斌志刚春燕秋实晨阳一鸣婷婷丽君正"
)
AGENCIES = ["新华社", "本报评论员", "大连日报社评论员"]

PINYIN_SURNAMES = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu", "Sun", "Lyu"]
PINYIN_GIVEN = ["Xiao", "Ming", "Jing", "Hui", "Tao", "Lei", "Yan", "Bo", "Ning", "Dan", "Peng", "Hao", "Yu"]
EN_PLACES = [
    "Dalian",
    "the Jinpu New Area",
    "Lyushunkou district",
    "Xinghai Square",
    "the port of Dalian",
    "Dayaowan port",
    "Changxing Island",
    "Jinshitan",
    "the Pilot Free Trade Zone",
    "Northeast Asia",
    "Ganjingzi district",
    "Zhongshan district",
    "the high-tech zone",
    "Dalian Bay",
]
EN_SUBJECTS = [
    "shipbuilding",
    "the petrochemical industry",
    "cold-chain logistics",
    "the ocean economy",
    "the business environment",
    "hydrogen energy",
    "cruise tourism",
    "cross-border e-commerce",
    "container shipping",
    "offshore wind power",
    "seafood exports",
    "urban renewal",
    "software outsourcing",
]
EN_VERBS = [
    "is boosting",
    "has expanded",
    "is upgrading",
    "continues to develop",
    "has invested in",
    "is promoting",
]
EN_TAILS = [
    "local officials said",
    "according to the city government",
    "as part of the revitalization of Northeast China",
    "drawing investors from Japan and South Korea",
    "with output up {n} percent year-on-year",
    "with total investment of {n} billion yuan",
    "creating thousands of jobs",
]

START = date(1995, 1, 1)
DAYS = (date(2025, 12, 31) - START).days


# --------------------------------------------------------------------------- one article


def _weighted_papers() -> tuple[list[tuple[str, str | None]], list[int]]:
    return [(n, s) for n, _, s in NEWSPAPERS], [w for _, w, _ in NEWSPAPERS]


PAPERS, PAPER_WEIGHTS = _weighted_papers()


def _page(rng: random.Random, style: str | None) -> str | None:
    if style is None or rng.random() < 0.12:  # web sites, and pages nobody recorded
        return None
    if style == "AB":
        return f"A{rng.randint(1, 16)}" if rng.random() < 0.8 else f"B{rng.randint(1, 8)}"
    return f"{rng.randint(1, 24):02d}"


def _person(rng: random.Random) -> str:
    given = rng.choice(GIVEN) if rng.random() < 0.3 else rng.choice(GIVEN) + rng.choice(GIVEN)
    return rng.choice(SURNAMES) + given


def _names(rng: random.Random, english: bool) -> list[Name]:
    r = rng.random()
    if r < 0.10:
        return []
    if r < 0.12 and not english:
        return [Name(rng.choice(AGENCIES), role="aut", type="corporate")]
    count = rng.choices((1, 2, 3), (55, 33, 12))[0]
    names = []
    for k in range(count):
        text = (
            f"{rng.choice(PINYIN_SURNAMES)} {rng.choice(PINYIN_GIVEN)}" if english else _person(rng)
        )  # China Daily style
        role = "pht" if k > 0 and rng.random() < 0.35 else "aut"
        names.append(Name(text, role=role))
    return names


def _zh_sentence(rng: random.Random) -> str:
    kind = rng.randrange(7)
    c = rng.choice
    if kind == 0:
        return f"{c(TIMES)}{c(PLACES)}{c(ACTORS)}{c(VERBS)}{c(OBJECTS)},{c(TAILS)}。"
    if kind == 1:
        return f"{c(PLACES)}{c(OBJECTS)}{c(RESULTS)},同比增长{rng.randint(2, 40)}.{rng.randint(0, 9)}%。"
    if kind == 2:
        return (
            f"据了解,{c(PLACES)}{c(TIMES).rstrip(',') or '今年'}{c(VERBS)}{c(OBJECTS)}项目"
            f"{rng.randint(3, 300)}{c(UNITS)},总投资{rng.randint(1, 900)}亿元。"
        )
    if kind == 3:
        return f"“{c(QUOTES)}。”{c(ACTORS)}负责人{_person(rng)}说。"
    if kind == 4:
        return f"记者在{c(PLACES)}看到,{c(SCENES)}。"
    if kind == 5:
        return f"{c(VERBS)}{c(OBJECTS)},{c(VERBS)}{c(OBJECTS)},{c(PLACES)}{c(RESULTS)}。"
    pair = "和".join(rng.sample(OBJECTS, 2))
    return f"围绕{pair},{c(ACTORS)}接待游客和客商{rng.randint(1, 900)}万人次,{c(TAILS)}。"


def _en_sentence(rng: random.Random) -> str:
    c = rng.choice
    tail = c(EN_TAILS).format(n=rng.randint(2, 40))
    first, second = rng.sample(EN_SUBJECTS, 2)
    s = f"{c(EN_PLACES)} {c(EN_VERBS)} {first} and {second}, {tail}."
    return s[0].upper() + s[1:]


def _fulltext(rng: random.Random, english: bool) -> str:
    """800–3000 characters in paragraphs of 2–7 sentences (English articles: about three times as many)."""
    target = rng.randint(800, 3000) * (3 if english else 1)
    sentence = _en_sentence if english else _zh_sentence
    joiner = " " if english else ""
    paragraphs: list[str] = []
    size = 0
    while size < target:
        para = joiner.join(sentence(rng) for _ in range(rng.randint(2, 7)))
        paragraphs.append(para)
        size += len(para) + 2
    return "\n\n".join(paragraphs) + "\n"


def _titles(rng: random.Random, english: bool) -> list[Title]:
    c = rng.choice
    if english:
        text = f"{c(EN_PLACES)} {c(EN_VERBS)} {c(EN_SUBJECTS)}"
        return [Title(text[0].upper() + text[1:], lang="eng")]
    form = rng.randrange(4)
    if form == 0:
        text = f"{c(PLACES)}{c(VERBS)}{c(OBJECTS)}"
    elif form == 1:
        text = f"{c(PLACES)}:{c(OBJECTS)}{c(RESULTS)}"
    elif form == 2:
        text = f"{c(VERBS)}{c(OBJECTS)} {c(VERBS)}{c(OBJECTS)}"
    else:
        text = f"{c(PLACES)}的{c(OBJECTS)}故事"
    subtitle = f"{c(ACTORS)}{c(VERBS)}{c(OBJECTS)}纪实" if rng.random() < 0.15 else None
    return [Title(text, subtitle=subtitle, lang="chi", script="Hans")]


def article(i: int, seed: int = 1) -> tuple[Article, str]:
    """Record number ``i`` of the seeded sequence: its :class:`Article` and its full text."""
    rng = random.Random(seed * 1_000_003 + i)
    english = rng.random() < ENGLISH_SHARE
    day = START + timedelta(days=rng.randrange(DAYS + 1))
    issued = day.isoformat() if rng.random() > 0.02 else day.isoformat()[:7]  # a few known to the month only
    if english:
        paper, style = ENGLISH_PAPER
    else:
        paper, style = rng.choices(PAPERS, PAPER_WEIGHTS)[0]
    record_id = f"{COLLECTION}-{issued}-{i:06d}"
    url = f"{BASE_URL}/records/{record_id}"
    created = date(2024, 1, 1) + timedelta(days=rng.randrange(700))
    subjects = (
        [Subject(topic=rng.choice(OBJECTS), geographic=rng.choice(PLACES[:12]))] if rng.random() < 0.4 else []
    )
    a = Article(
        identifier=record_id,
        titles=_titles(rng, english),
        names=_names(rng, english),
        date_issued=issued,
        host=Host(title=paper, date=issued, page=_page(rng, style)),
        language="eng" if english else "chi",
        script=None if english else "Hans",
        collection=COLLECTION,
        collection_title=COLLECTION_TITLE,
        subjects=subjects,
        genres=["article"],
        type_of_resource="text",
        urls=[(url, None), (f"{url}/text", "raw object")],
        record_created=created.isoformat(),
        content_source=CONTENT_SOURCE,
        record_origin=ORIGIN,
        cataloging_language="chi",
    )
    return a, _fulltext(rng, english)


def record_bytes(a: Article) -> bytes:
    """The file a cataloger would keep: indented like ``mods-article-example.xml``, with a declaration."""
    root = build_mods(a)
    etree.indent(root, space="  ")
    return xmlio.to_bytes(root) + b"\n"


# --------------------------------------------------------------------------- the tree


def _write_range(args: tuple[int, int, str, int]) -> list[str]:
    start, stop, out, seed = args
    folder = Path(out) / COLLECTION
    paths = []
    for i in range(start, stop):
        a, text = article(i, seed)
        xml_path = folder / f"{a.identifier}.xml"
        xml_path.write_bytes(record_bytes(a))
        xml_path.with_suffix(".txt").write_bytes(text.encode("utf-8"))
        paths.append(str(xml_path))
    return paths


def generate_tree(n: int, out: Path, seed: int = 1, workers: int | None = None) -> list[Path]:
    """Write ``n`` articles as ``out/media/<id>.xml`` + ``<id>.txt``; the XML paths, in record order.

    Uses a process pool (one worker per core by default) because building and
    serialising the trees is CPU-bound; the result is the same for any ``workers``.
    """
    out = Path(out)
    (out / COLLECTION).mkdir(parents=True, exist_ok=True)
    workers = workers or os.cpu_count() or 1
    ranges = [(s, min(s + CHUNK, n), str(out), seed) for s in range(0, n, CHUNK)]
    if workers <= 1 or n <= CHUNK:
        chunks = map(_write_range, ranges)
        return [Path(p) for chunk in chunks for p in chunk]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return [Path(p) for chunk in pool.map(_write_range, ranges) for p in chunk]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", type=int, help="number of articles")
    ap.add_argument("out", type=Path, help="output folder (records/-style: OUT/media/<id>.xml + .txt)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    paths = generate_tree(args.n, args.out, args.seed, args.workers)
    elapsed = time.perf_counter() - t0
    size = sum(p.stat().st_size + p.with_suffix(".txt").stat().st_size for p in paths)
    print(
        f"generated {len(paths):,} articles in {args.out} in {elapsed:.1f} s "
        f"({len(paths) / elapsed:,.0f} articles/s, {size / 1e6:,.1f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
