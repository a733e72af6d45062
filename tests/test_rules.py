"""Only configured cameras are ingested, and each has a stable identity in the catalog."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bodycam_ingest.detection.rules import DeviceRule, device_key, fs_label, match_device, usb_id

# `udevadm info --query=property --name=/dev/loop0` of a loop-attached image made by
# build_fat32_image(label="BODYCAM"), after `udevadm trigger --action=change` (this machine).
LOOP_FAT = {
    "DEVPATH": "/devices/virtual/block/loop0", "DEVNAME": "/dev/loop0", "DEVTYPE": "disk",
    "DISKSEQ": "15", "MAJOR": "7", "MINOR": "0", "SUBSYSTEM": "block",
    "USEC_INITIALIZED": "189022429", "ID_FS_LABEL": "BODYCAM", "ID_FS_LABEL_ENC": "BODYCAM",
    "ID_FS_UUID": "CAA7-A4C0", "ID_FS_UUID_ENC": "CAA7-A4C0", "ID_FS_VERSION": "FAT32",
    "ID_FS_TYPE": "vfat", "ID_FS_USAGE": "filesystem",
    "DEVLINKS": "/dev/disk/by-uuid/CAA7-A4C0 /dev/disk/by-label/BODYCAM /dev/disk/by-diskseq/15",
    "TAGS": ":systemd:", "CURRENT_TAGS": ":systemd:",
}
# The same loop device right after `losetup`, before udev saw the backing file.
LOOP_BARE = {"DEVPATH": "/devices/virtual/block/loop0", "DEVNAME": "/dev/loop0",
             "DEVTYPE": "disk", "SUBSYSTEM": "block", "SYSTEMD_READY": "0"}
# A USB mass-storage camera's partition, in the shape udev gives (ID_USB_* from systemd 252 on).
USB_CAMERA = {
    "DEVNAME": "/dev/sdb1", "DEVTYPE": "partition", "SUBSYSTEM": "block", "ID_BUS": "usb",
    "ID_VENDOR_ID": "2D2F", "ID_MODEL_ID": "0A01", "ID_SERIAL_SHORT": "DSJ9X001A7",
    "ID_SERIAL": "Generic_DSJ_Camera_DSJ9X001A7-0:0", "ID_USB_VENDOR_ID": "2d2f",
    "ID_USB_MODEL_ID": "0a01", "ID_USB_SERIAL_SHORT": "DSJ9X001A7", "ID_FS_TYPE": "exfat",
    "ID_FS_USAGE": "filesystem", "ID_FS_UUID": "64E1-2B9C", "ID_FS_LABEL": "DSJ_CAM",
    "ID_FS_LABEL_ENC": "DSJ\\x20CAM", "ID_PART_ENTRY_NUMBER": "1",
}
USB_WHOLE_DISK = {**{k: v for k, v in USB_CAMERA.items() if not k.startswith("ID_FS")},
                  "DEVNAME": "/dev/sdb", "DEVTYPE": "disk", "ID_PART_TABLE_TYPE": "dos"}

BY_LABEL = DeviceRule(name="lab", fs_labels=("BODYCAM*",))
BY_USB = DeviceRule(name="dsj", usb_ids=("2d2f:0a01",))


def test_a_loop_attached_image_matches_by_label():
    assert match_device(LOOP_FAT, [BY_USB, BY_LABEL]) is BY_LABEL


def test_a_loop_device_without_filesystem_properties_matches_nothing():
    assert match_device(LOOP_BARE, [BY_LABEL]) is None


def test_a_usb_camera_matches_by_vendor_and_product():
    assert match_device(USB_CAMERA, [BY_LABEL, BY_USB]) is BY_USB


def test_the_whole_disk_of_a_partitioned_camera_is_not_a_filesystem():
    assert match_device(USB_WHOLE_DISK, [BY_USB]) is None


def test_a_rule_that_names_neither_usb_id_nor_label_matches_nothing():
    anything = DeviceRule(name="anything", fs_types=())
    assert match_device(LOOP_FAT, [anything]) is None
    assert match_device(USB_CAMERA, [anything]) is None


def test_usb_id_or_label_matches_when_both_are_given_as_udev_marks_it():
    both = DeviceRule(name="both", usb_ids=("2207:0010",), fs_labels=("DSJ*",))
    no_name = {**USB_CAMERA, "ID_VENDOR_ID": "2207", "ID_MODEL_ID": "0010",
               "ID_USB_VENDOR_ID": "2207", "ID_USB_MODEL_ID": "0010",
               "ID_FS_LABEL": "NO_NAME", "ID_FS_LABEL_ENC": "NO\\x20NAME"}
    assert match_device(no_name, [both]) is both  # the camera: id matches, label does not
    assert match_device(USB_CAMERA, [both]) is both  # label matches, id does not
    assert match_device({**USB_CAMERA, "ID_FS_LABEL_ENC": "OTHER"}, [both]) is None
    assert match_device(LOOP_FAT, [DeviceRule(name="x", usb_ids=("2d2f:0a01",),
                                              fs_labels=("BODYCAM",))]) is not None


def test_labels_are_case_insensitive_globs_on_the_real_label_with_spaces():
    assert fs_label(USB_CAMERA) == "DSJ CAM"  # ID_FS_LABEL says DSJ_CAM
    rule = DeviceRule(name="spaces", fs_labels=("dsj ca?",))
    assert match_device(USB_CAMERA, [rule]) is rule
    assert match_device(LOOP_FAT, [DeviceRule(name="l", fs_labels=("bodycam",))]) is not None
    assert match_device(LOOP_FAT, [DeviceRule(name="l", fs_labels=("BODY",))]) is None


def test_filesystem_type_outside_the_rule_does_not_match():
    assert match_device({**LOOP_FAT, "ID_FS_TYPE": "ntfs"}, [BY_LABEL]) is None
    ext4_only = DeviceRule(name="e", fs_labels=("BODYCAM",), fs_types=("ext4",))
    assert match_device(LOOP_FAT, [ext4_only]) is None
    any_type = DeviceRule(name="a", fs_labels=("BODYCAM",), fs_types=())
    assert match_device({**LOOP_FAT, "ID_FS_TYPE": "ntfs"}, [any_type]) is any_type


def test_the_first_matching_rule_wins():
    first = DeviceRule(name="first", fs_labels=("BODY*",))
    assert match_device(LOOP_FAT, [first, BY_LABEL]) is first


@pytest.mark.parametrize("bad", ["2d2f", "2d2f:0a0", "2d2f-0a01", "xxxx:0a01", ":"])
def test_malformed_usb_ids_are_rejected_with_the_expected_format(bad: str):
    with pytest.raises(ValueError, match="vvvv:pppp"):
        DeviceRule(name="bad", usb_ids=(bad,))


def test_usb_ids_in_capitals_are_normalised():
    rule = DeviceRule(name="caps", usb_ids=(" 2D2F:0A01 ",))
    assert rule.usb_ids == ("2d2f:0a01",)
    assert match_device(USB_CAMERA, [rule]) is rule
    assert usb_id(USB_CAMERA) == "2d2f:0a01"
    assert usb_id(LOOP_FAT) is None


def test_device_key_prefers_usb_serial_then_filesystem_uuid_then_device_node():
    assert device_key(USB_CAMERA) == "usb:2d2f:0a01:DSJ9X001A7"
    no_serial = {k: v for k, v in USB_CAMERA.items() if "SERIAL" not in k}
    assert device_key(no_serial) == "fs:exfat:64E1-2B9C"
    assert device_key(LOOP_FAT) == "fs:vfat:CAA7-A4C0"
    assert device_key(LOOP_BARE) == "dev:/dev/loop0"
    with pytest.raises(ValueError, match="DEVNAME"):
        device_key({})


def test_device_key_of_older_udev_without_id_usb_properties():
    old = {k: v for k, v in USB_CAMERA.items() if not k.startswith("ID_USB_")}
    assert device_key(old) == "usb:2d2f:0a01:DSJ9X001A7"


# ---- properties ---------------------------------------------------------------------------

_keys = st.sampled_from(["ID_FS_USAGE", "ID_FS_TYPE", "ID_FS_LABEL", "ID_FS_LABEL_ENC",
                         "ID_VENDOR_ID", "ID_MODEL_ID", "ID_BUS", "ID_SERIAL_SHORT", "ID_FS_UUID",
                         "DEVNAME", "DEVTYPE"])
_values = st.sampled_from(["filesystem", "raid", "crypto", "vfat", "exfat", "ext4", "ntfs",
                           "BODYCAM", "bodycam1", "DSJ\\x20CAM", "2d2f", "0a01", "usb",
                           "SER1", "1234-ABCD", "/dev/sdb1", "disk", "partition", ""])
props_st = st.dictionaries(_keys, _values)
rule_st = st.builds(
    DeviceRule, name=st.just("r"),
    usb_ids=st.lists(st.sampled_from(["2d2f:0a01", "1234:5678"]), max_size=2).map(tuple),
    fs_labels=st.lists(st.sampled_from(["BODYCAM*", "dsj ?am", "*"]), max_size=2).map(tuple),
    fs_types=st.lists(st.sampled_from(["vfat", "exfat", "ext4"]), max_size=3).map(tuple))


@settings(deadline=None)  # a loaded 2-core machine must not fail a pure test
@given(props_st, st.lists(rule_st, max_size=4))
def test_anything_but_a_filesystem_never_matches(props: dict[str, str], rules: list[DeviceRule]):
    if props.get("ID_FS_USAGE") != "filesystem":
        assert match_device(props, rules) is None


@settings(deadline=None)  # a loaded 2-core machine must not fail a pure test
@given(props_st)
def test_rules_without_usb_ids_or_labels_never_match(props: dict[str, str]):
    assert match_device(props, [DeviceRule(name="empty"), DeviceRule(name="e2", fs_types=())]) \
        is None


@settings(deadline=None)  # a loaded 2-core machine must not fail a pure test
@given(props_st, st.lists(rule_st, max_size=4))
def test_a_match_is_always_one_of_the_given_rules_and_satisfies_it(props: dict[str, str],
                                                                   rules: list[DeviceRule]):
    rule = match_device(props, rules)
    if rule is not None:
        assert any(rule is r for r in rules)
        assert rule.usb_ids or rule.fs_labels
        assert usb_id(props) in rule.usb_ids or rule.fs_labels
        assert not rule.fs_types or props.get("ID_FS_TYPE") in rule.fs_types


@settings(deadline=None)  # a loaded 2-core machine must not fail a pure test
@given(props_st.map(lambda p: {**p, "DEVNAME": "/dev/sdz1"}))
def test_device_key_is_deterministic_and_names_its_kind(props: dict[str, str]):
    key = device_key(props)
    assert key == device_key(dict(reversed(list(props.items()))))
    assert key.split(":", 1)[0] in {"usb", "fs", "dev"}


def test_the_shipped_udev_rule_is_the_one_generated_from_the_example_config():
    from pathlib import Path

    from bodycam_ingest.config import load_config
    from bodycam_ingest.detection.dock import device_rules
    from bodycam_ingest.detection.rules import udev_rules

    root = Path(__file__).resolve().parent.parent
    generated = udev_rules(device_rules(load_config(root / "config.example.toml")))
    assert (root / "udev-rules" / "70-bodycam.rules").read_text() == generated
    assert 'ENV{ID_VENDOR_ID}=="2207", ENV{ID_MODEL_ID}=="0010", ENV{BODYCAM_CAMERA}="1"' \
        in generated  # one line per USB id: the id alone marks the camera (OR, as in the daemon)
    assert 'ENV{ID_FS_LABEL}=="[Bb][Oo][Dd][Yy][Cc][Aa][Mm]*|[Dd][Ss][Jj]*"' in generated


def test_the_generated_udev_rule_marks_exactly_what_the_daemon_matches():
    """The generated ENV matches, evaluated as udev does (case-sensitive globs, '|' alternatives,
    every match on a line must hold, any line marks), agree with ``match_device``."""
    import fnmatch
    import re

    from bodycam_ingest.detection.rules import udev_rules

    rules = [DeviceRule(name="a", usb_ids=("2207:0010", "2d2f:0a01"), fs_labels=("dsj ?am",)),
             DeviceRule(name="b", fs_labels=("BODYCAM*",), fs_types=("vfat",))]
    text = udev_rules(rules)
    matches = [dict(re.findall(r'ENV\{(\w+)\}=="([^"]*)"', line))
               for line in text.splitlines() if line.endswith('ENV{BODYCAM_CAMERA}="1"')]

    def udev_marks(props: dict[str, str]) -> bool:
        if props.get("ID_FS_USAGE") != "filesystem":
            return False
        return any(all(any(fnmatch.fnmatchcase(props.get(key, ""), alt) for alt in pat.split("|"))
                       for key, pat in m.items()) for m in matches)

    no_name = {**USB_CAMERA, "ID_VENDOR_ID": "2207", "ID_MODEL_ID": "0010",
               "ID_USB_VENDOR_ID": "2207", "ID_USB_MODEL_ID": "0010", "ID_FS_LABEL": "NO_NAME",
               "ID_FS_LABEL_ENC": "NO\\x20NAME"}
    for props in (LOOP_FAT, LOOP_BARE, USB_CAMERA, USB_WHOLE_DISK, no_name,
                  {**LOOP_FAT, "ID_FS_TYPE": "ext4"}, {**LOOP_FAT, "ID_FS_LABEL": "bodycam2",
                                                       "ID_FS_LABEL_ENC": "bodycam2"}):
        assert udev_marks(props) == (match_device(props, rules) is not None), props
