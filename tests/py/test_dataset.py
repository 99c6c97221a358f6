"""Data-set readers (src/data/) against Python's own csv/json/xml parsing of the same files: the
shared apparel and corel5k lists, generated COCO and VOC sets, and malformed files of each kind."""
import csv
import io
import json
import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import BUILD

TOOL = os.path.join(BUILD, "tests", "tool_dataset")
DATA = "/work/shared/data"
APPAREL = os.path.join(DATA, "apparel")
COREL = os.path.join(DATA, "corel5k")
need_data = pytest.mark.skipif(not os.path.isdir(APPAREL) or not os.path.isdir(COREL),
                               reason="shared data sets not present")


def load(path, *args):
    out = subprocess.run([TOOL, str(path), *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def load_error(path, *args):
    out = subprocess.run([TOOL, str(path), *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 1, out.stdout
    return out.stderr.strip()


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [l.rstrip("\r\n") for l in f]


def expected(rows, classes, root):
    """rows: (relative path, [label names]) -> the tool's JSON items."""
    index = {c: i for i, c in enumerate(classes)}
    return [{"path": os.path.join(root, p), "labels": sorted({index[l] for l in labels})}
            for p, labels in rows]


def list_rows(path):
    rows = []
    for line in read_lines(path):
        if line.strip():
            p, _, labels = line.partition("\t")
            rows.append((p, [l for l in labels.split(",") if l]))
    return rows


def pai_rows(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            ident, rest = line.rstrip("\n").split(",", 1)
            dec = json.JSONDecoder()
            image, end = dec.raw_decode(rest)
            label, _ = dec.raw_decode(rest[end + 1:])
            opt = label["option"]
            rows.append((image["url"], [opt] if isinstance(opt, str) else opt))
    return rows


@need_data
@pytest.mark.parametrize("name,rows_of", [("train.txt", list_rows), ("train_itag.csv", pai_rows)])
def test_apparel(name, rows_of):
    path = os.path.join(APPAREL, name)
    rows = rows_of(path)
    got = load(path)
    assert got["format"] == ("list" if name.endswith(".txt") else "pai_csv")
    assert len(got["items"]) == 1789
    seen = sorted({l for _, ls in rows for l in ls})
    assert got["classes"] == seen and len(seen) == 7
    assert got["items"] == expected(rows, seen, APPAREL)
    assert got["items"][0]["labels"] == sorted(seen.index(l) for l in ["black", "jeans"])

    classes = read_lines(os.path.join(APPAREL, "classes.txt"))
    got = load(path, "--classes", os.path.join(APPAREL, "classes.txt"))
    assert got["classes"] == classes
    assert got["items"] == expected(rows, classes, APPAREL)
    assert got["items"][0]["labels"] == [classes.index("black"), classes.index("jeans")]


@need_data
def test_apparel_csv_and_list_agree():
    a = load(os.path.join(APPAREL, "train.txt"))
    b = load(os.path.join(APPAREL, "train_itag.csv"))
    assert a["classes"] == b["classes"] and a["items"] == b["items"]


@need_data
def test_corel_empty_label_lines():
    path = os.path.join(COREL, "train.txt")
    rows = list_rows(path)
    classes = read_lines(os.path.join(COREL, "classes.txt"))
    got = load(path, "--classes", os.path.join(COREL, "classes.txt"))
    assert len(got["items"]) == 4500
    assert got["items"] == expected(rows, classes, COREL)
    assert sum(1 for it in got["items"] if not it["labels"]) == 132
    got = load(path, "--root", "/data/corel")
    assert got["classes"] == sorted({l for _, ls in rows for l in ls})
    assert got["items"][0]["path"] == "/data/corel/" + rows[0][0]


def write(path, text, mode="w"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(text)
    return path


def test_list_variants(tmp_path):
    text = ("\ufeffa.jpg\tdog,cat\r\n"
            "\n"
            "sub/b.jpg\tcat ,  dog,cat,\r\n"
            "/abs/c.jpg\t\n"
            "https://host/x.jpg?q=1\tbird\tdog\n")
    path = write(tmp_path / "l.txt", text)
    got = load(path)
    assert got["format"] == "list" and got["classes"] == ["bird", "cat", "dog"]
    assert got["items"] == [
        {"path": str(tmp_path / "a.jpg"), "labels": [1, 2]},
        {"path": str(tmp_path / "sub/b.jpg"), "labels": [1, 2]},
        {"path": "/abs/c.jpg", "labels": []},
        {"path": "https://host/x.jpg?q=1", "labels": [0, 2]},
    ]


def test_list_space_separated_with_classes(tmp_path):
    classes = write(tmp_path / "classes.txt", "zebra\n  dog \n\ncat\n")
    path = write(tmp_path / "l.txt", "a.jpg dog cat\n  b.jpg   zebra\nc.jpg\n")
    got = load(path, "--classes", classes, "--root", "/r")
    assert got["classes"] == ["zebra", "dog", "cat"]
    assert got["items"] == [{"path": "/r/a.jpg", "labels": [1, 2]},
                            {"path": "/r/b.jpg", "labels": [0]},
                            {"path": "/r/c.jpg", "labels": []}]


def test_pai_quoted_fields(tmp_path):
    rows = [("1", {"url": "img/a,b.jpg"}, {"option": ["x \"y\"", "z"]}),
            ("2", {"url": "img/c.jpg"}, {"option": "z"}),
            ("3", {"url": "img/d.jpg"}, {"option": []})]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["id", "image", "label"])  # a header line
    for ident, image, label in rows:
        w.writerow([ident, json.dumps(image), json.dumps(label)])
    path = write(tmp_path / "p.csv", buf.getvalue())
    got = load(path)
    assert got["format"] == "pai_csv"
    assert got["classes"] == sorted(["x \"y\"", "z"])
    assert got["items"] == [{"path": str(tmp_path / "img/a,b.jpg"), "labels": [0, 1]},
                            {"path": str(tmp_path / "img/c.jpg"), "labels": [1]},
                            {"path": str(tmp_path / "img/d.jpg"), "labels": []}]


def coco_doc():
    return {
        "info": {"description": "test", "nested": [[1, 2], {"a": "}]\""}]},
        "images": [{"id": 42, "file_name": "b.jpg", "width": 3},
                   {"file_name": "caf\u00e9.jpg", "id": 7},
                   {"id": 9, "file_name": "empty.jpg"}],
        "annotations": [
            {"id": 1, "image_id": 42, "category_id": 18, "segmentation": [[1.5, 2, 3, 4]],
             "bbox": [1, 2, 3, 4], "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 1, "segmentation": {"counts": "abc"}},
            {"id": 3, "image_id": 42, "category_id": 3},
            {"id": 4, "image_id": 42, "category_id": 18},
        ],
        "categories": [{"id": 18, "name": "dog", "supercategory": "animal"},
                       {"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
    }


def coco_expected(doc, classes, root):
    cats = {c["id"]: c["name"] for c in doc["categories"]}
    labels = {im["id"]: [] for im in doc["images"]}
    for a in doc["annotations"]:
        labels[a["image_id"]].append(cats[a["category_id"]])
    return expected([(im["file_name"], labels[im["id"]]) for im in doc["images"]], classes, root)


@pytest.mark.parametrize("indent", [None, 2])
def test_coco(tmp_path, indent):
    doc = coco_doc()
    path = write(tmp_path / "coco/annotations/instances_val2017.json",
                 json.dumps(doc, indent=indent, ensure_ascii=True))
    got = load(path)
    classes = [c["name"] for c in sorted(doc["categories"], key=lambda c: c["id"])]
    assert got["format"] == "coco" and got["classes"] == classes == ["person", "car", "dog"]
    # Images resolve against coco/val2017, COCO's own layout.
    assert got["items"] == coco_expected(doc, classes, str(tmp_path / "coco/val2017"))

    other = write(tmp_path / "elsewhere/my.json", json.dumps(doc))
    assert load(other)["items"] == coco_expected(doc, classes, str(tmp_path / "elsewhere"))

    cls = write(tmp_path / "c.txt", "dog\ncar\nperson\nbicycle\n")
    got = load(path, "--classes", cls, "--root", "/img")
    assert got["classes"] == ["dog", "car", "person", "bicycle"]
    assert got["items"] == coco_expected(doc, got["classes"], "/img")


def voc_set(root, annotations):
    """annotations: {id: [(name, [part names], difficult)]}"""
    for ident, objects in annotations.items():
        ann = ET.Element("annotation")
        ET.SubElement(ann, "filename").text = ident + ".jpg"
        for name, parts, difficult in objects:
            obj = ET.SubElement(ann, "object")
            if parts:  # VOC puts the parts after the name; put one first to be thorough
                part = ET.SubElement(obj, "part")
                ET.SubElement(part, "name").text = parts[0]
            ET.SubElement(obj, "name").text = f"\n\t{name} "
            ET.SubElement(obj, "difficult").text = str(int(difficult))
            for p in parts[1:]:
                part = ET.SubElement(obj, "part")
                ET.SubElement(part, "name").text = p
        text = "<?xml version='1.0'?>\n<!-- generated -->\n" + ET.tostring(ann, encoding="unicode")
        write(os.path.join(root, "Annotations", ident + ".xml"), text)


def voc_expected(root, ids, images):
    classes = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
               "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
               "sheep", "sofa", "train", "tvmonitor"]
    rows = []
    for ident in ids:
        tree = ET.parse(os.path.join(root, "Annotations", ident + ".xml"))
        rows.append((ident + ".jpg", [o.find("name").text.strip() for o in tree.iter("object")]))
    return classes, expected(rows, classes, images)


def test_voc(tmp_path):
    root = str(tmp_path / "VOC2007")
    voc_set(root, {
        "000001": [("person", ["head", "hand"], False), ("dog", [], True)],
        "000002": [("car", [], False), ("car", [], False), ("tvmonitor", [], False)],
        "000003": [],
    })
    write(os.path.join(root, "ImageSets/Main/trainval.txt"), "000001\n000002\n000003\n")
    write(os.path.join(root, "ImageSets/Main/val.txt"), "000002\n\n")
    classes, items = voc_expected(root, ["000001", "000002", "000003"],
                                  os.path.join(root, "JPEGImages"))
    got = load(root)
    assert got["format"] == "voc" and got["classes"] == classes and got["items"] == items
    assert load(root + "/ImageSets/Main/trainval.txt")["items"] == items
    got = load(root, "--split", "val", "--root", "/jpg")
    assert got["items"] == voc_expected(root, ["000002"], "/jpg")[1]


MALFORMED = [
    ("l.txt", "a.jpg\tcat\nb.jpg cat\n", [], "l.txt:2: no tab between the image path"),
    ("l.txt", "a.jpg\tcat\n\tdog\n", [], "l.txt:2: the image path is empty"),
    ("l.txt", "a.jpg\tcat,cow\n", ["--classes", "CLASSES"], "l.txt:1: label \"cow\" is not in"),
    ("l.txt", "a.jpg\t\n", [], "no class names"),
    ("p.csv", '1,{"url": "a.jpg"},{"option": ["cat"]}\n2,{"url": "b.jpg",},{"option": []}\n', [],
     "p.csv:2: column 3: the image field is not valid JSON"),
    ("p.csv", '1,{"uri": "a.jpg"},{"option": ["cat"]}\n', [], "p.csv:1: the image field has no \"url\""),
    ("p.csv", '1,"{""url"": ""a.jpg""}","{""option"": [""cat""]}\n', [],
     "p.csv:1: column 26: a quoted field is not closed"),
    ("p.csv", '1,{"url": "a.jpg"},{"option": [3]}\n', [], "\"option\" holds something that is not"),
    ("p.csv", '1,{"url": "a.jpg"},{"option": "cow"} x\n', [], "unexpected text after the label"),
    ("c.json", '{"images": [{"id": 1, "file_name": "a.jpg"}], "categories": [{"id": 1, "name": "cat"}],\n'
     '"annotations": [{"image_id": 2, "category_id": 1}]}', [],
     "c.json:2: an annotation refers to image id 2, which is not in \"images\""),
    ("c.json", '{"images": [{"id": 1, "file_name": "a.jpg"}],\n"annotations": [{"image_id": 1, "category_id": 5}],'
     '"categories": [{"id": 1, "name": "cat"}]}', [], "refers to category id 5"),
    ("c.json", '{"images": [{"id": 1, "file_name": "a.jpg"}],\n"annotations": [{"image_id": 1,\n',
     [], "c.json:3: bad JSON: expected a string (the file ends early)"),
    ("c.json", '{"images": [{"id": "x", "file_name": "a.jpg"}]}', [], "\"id\" should be an integer"),
    ("c.json", '{"images": [{"file_name": "a.jpg"}], "categories": []}', [], "an image without \"id\""),
    ("c.json", '{"images": [], "annotations": []}', [], "no \"categories\" array"),
    ("c.json", '{"images": [{"id": 1, "file_name": "a.jpg"}], "categories": [{"id": 1, "name": "cow"}]}',
     ["--classes", "CLASSES"], "category \"cow\" (id 1) is not in the class list"),
    ("c.json", '{"info": ' + "[" * 5000, [], "nested too deeply"),
]


@pytest.mark.parametrize("name,text,args,message", MALFORMED)
def test_malformed(tmp_path, name, text, args, message):
    path = write(tmp_path / name, text)
    classes = write(tmp_path / "classes.txt", "cat\ndog\n")
    err = load_error(path, *[classes if a == "CLASSES" else a for a in args])
    assert message in err


def test_malformed_voc(tmp_path):
    root = str(tmp_path / "VOC")
    voc_set(root, {"1": [("cat", [], False)], "2": [("unicorn", [], False)]})
    write(os.path.join(root, "Annotations/3.xml"), "<annotation>\n<object><pose>x</pose></object>\n"
          "</annotation>")
    for ids, message in [("1\n4\n", "trainval.txt:2: image 4: cannot open"),
                         ("1\n2\n", "2.xml:3: object class \"unicorn\" is not in the class list"),
                         ("3\n", "3.xml:2: an <object> without a <name>")]:
        write(os.path.join(root, "ImageSets/Main/trainval.txt"), ids)
        assert message in load_error(root)


def test_bad_class_file_and_paths(tmp_path):
    path = write(tmp_path / "l.txt", "a.jpg\tcat\n")
    dup = write(tmp_path / "dup.txt", "cat\ndog\n\ncat\n")
    assert "dup.txt:4: class \"cat\" is already on line 1" in load_error(path, "--classes", dup)
    empty = write(tmp_path / "empty.txt", "\n \n")
    assert "empty.txt is empty" in load_error(path, "--classes", empty)
    assert "open " + str(tmp_path / "nope.txt") in load_error(tmp_path / "nope.txt")
    binary = write(tmp_path / "b.txt", b"a.jpg\tcat\x00\n", "wb")
    assert "not a text file" in load_error(binary)
