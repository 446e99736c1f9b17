"""What a node publishes: one Sparkplug device per plant device, one metric per point, each
with a fixed alias and datatype, and the metric properties another Sparkplug host shows."""

from __future__ import annotations

from dataclasses import dataclass, field

from app import __version__
from app.core.model import tag_name
from app.core.plant import Plant
from app.core.profiles import Point, Profile
from app.core.sparkplug import REBIRTH, SpDataType, datatype_for_point
from app.core.sparkplug import payload as sp
from app.core.sparkplug.datawriter import DataMetric

#: node metrics (besides bdSeq, which has no alias: the NDEATH names it)
NODE_VERSION = "Node Info/Vigil Version"
NODE_PLANT = "Node Info/Plant"


@dataclass(frozen=True)
class MetricDef:
    name: str
    alias: int
    datatype: SpDataType
    tag: str
    point: Point
    #: the birth's fixed properties (unit, range, limits...); quality is added per value
    properties: tuple[tuple[str, sp.PropertyItem], ...]
    #: position in its device's metrics
    index: int
    #: alias and value encoder of DDATA's hand-written path
    data: DataMetric


@dataclass
class DeviceDef:
    name: str
    metrics: list[MetricDef] = field(default_factory=list)
    by_tag: dict[str, MetricDef] = field(default_factory=dict)
    by_alias: dict[int, MetricDef] = field(default_factory=dict)
    by_name: dict[str, MetricDef] = field(default_factory=dict)

    def add(self, m: MetricDef) -> None:
        self.metrics.append(m)
        self.by_tag[m.tag] = m
        self.by_alias[m.alias] = m
        self.by_name[m.name] = m


class NodeModel:
    """Aliases are unique across the node and never reused while it runs: node metrics first,
    then every device's points in plant order; a device discovered later gets new ones."""

    def __init__(self, plant: Plant) -> None:
        self.plant_name = plant.info.name
        self.node_metrics: list[tuple[str, int, SpDataType, sp.SpValue]] = [
            (REBIRTH, 1, SpDataType.Boolean, False),
            (NODE_VERSION, 2, SpDataType.String, __version__),
            (NODE_PLANT, 3, SpDataType.String, plant.info.name),
        ]
        self._next_alias = 1 + len(self.node_metrics)
        self.devices: dict[str, DeviceDef] = {}
        self.refresh(plant)

    def refresh(self, plant: Plant) -> list[str]:
        """Add devices the plant has gained (discovery); returns their names."""
        added = []
        for dev in plant.enabled_devices():
            profile = plant.profiles.get(dev.name)
            if profile is not None and dev.name not in self.devices:
                self.devices[dev.name] = self._device(dev.name, profile)
                added.append(dev.name)
        return added

    def _device(self, name: str, profile: Profile) -> DeviceDef:
        d = DeviceDef(name)
        for p in profile.points:
            datatype = datatype_for_point(p)
            d.add(MetricDef(p.name, self._next_alias, datatype, tag_name(name, p.name), p,
                            tuple(point_properties(p)), len(d.metrics),
                            DataMetric(self._next_alias, datatype)))
            self._next_alias += 1
        return d

    def device_of_tag(self, tag: str) -> DeviceDef | None:
        return self.devices.get(tag.partition(".")[0])


def point_properties(p: Point) -> list[tuple[str, sp.PropertyItem]]:
    """Engineering unit, range, description, access, write and alarm limits, named as Ignition's
    MQTT Engine maps them onto tag properties where it has a name for them."""
    dbl = SpDataType.Double
    props: list[tuple[str, sp.PropertyItem]] = []
    if p.unit:
        props.append((sp.PROP_ENG_UNIT, (SpDataType.String, p.unit)))
    rng = p.engineering_range
    if rng is not None:
        props += [(sp.PROP_ENG_LOW, (dbl, float(rng[0]))), (sp.PROP_ENG_HIGH, (dbl, float(rng[1])))]
    if p.description:
        props.append((sp.PROP_DOCUMENTATION, (SpDataType.String, p.description)))
    props.append((sp.PROP_READ_ONLY, (SpDataType.Boolean, not p.writable)))
    for key, value in ((sp.PROP_WRITE_MIN, p.min), (sp.PROP_WRITE_MAX, p.max),
                       (sp.PROP_ALARM_LOLO, p.lolo), (sp.PROP_ALARM_LO, p.lo),
                       (sp.PROP_ALARM_HI, p.hi), (sp.PROP_ALARM_HIHI, p.hihi)):
        if value is not None:
            props.append((key, (dbl, float(value))))
    return props
