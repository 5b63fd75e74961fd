"""Face detectors behind one small interface.

Conventions for every detector: input image RGB uint8 HxWx3, origin top-left,
x right, y down. Boxes are ``bbox_xyxy_px`` (x1, y1, x2, y2) in full-resolution
pixels; landmarks are five (x, y) points in the order left eye, right eye, nose
tip, left mouth corner, right mouth corner, where "left" is the image's left.
:mod:`~pipeline.detection.base` holds the interface and the shared box maths,
:mod:`~pipeline.detection.registry` the detectors by name; ``centerface`` and
``scrfd`` implement it.
"""
