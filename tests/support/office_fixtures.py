"""Office files with text in every container their format has, one unique keyword per container.

python-docx, python-pptx, openpyxl and fpdf2 write what they can; the structures they cannot
write (DrawingML and VML text boxes, mc:AlternateContent, footnotes, endnotes, SmartArt) are added
as raw Office Open XML, as Word and PowerPoint write them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import docx
import openpyxl
import pptx
from docx.opc.constants import RELATIONSHIP_TYPE as DOCX_RT
from docx.opc.packuri import PackURI
from docx.opc.part import Part as DocxPart
from docx.oxml import parse_xml as docx_xml
from openpyxl.chart import BarChart, Reference
from openpyxl.drawing.image import Image as SheetImage
from PIL import Image
from pptx.chart.data import CategoryChartData
from pptx.enum.chart import XL_CHART_TYPE
from pptx.enum.shapes import MSO_SHAPE
from pptx.opc.constants import RELATIONSHIP_TYPE as PPTX_RT
from pptx.opc.package import Part as PptxPart
from pptx.opc.packuri import PackURI as PptxPackURI
from pptx.oxml import parse_xml as pptx_xml
from pptx.util import Inches

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_NSDECL = (
    f'xmlns:w="{_W}" '
    'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
    'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
    'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
    'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
    'xmlns:v="urn:schemas-microsoft-com:vml" '
    'xmlns:o="urn:schemas-microsoft-com:office:office" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
)


@dataclass(frozen=True)
class Container:
    """One container of text in a generated file and the keyword only it holds."""

    file_name: str
    container: str
    keyword: str


def png(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


# --- DOCX -------------------------------------------------------------------------------


def _drawingml_box(text: str, shape_id: int) -> str:
    return (
        f'<w:drawing {_NSDECL}><wp:anchor distT="0" distB="0" distL="0" distR="0" simplePos="0" '
        'relativeHeight="2" behindDoc="0" locked="0" layoutInCell="1" allowOverlap="1">'
        '<wp:simplePos x="0" y="0"/><wp:positionH relativeFrom="column"><wp:posOffset>0</wp:posOffset>'
        '</wp:positionH><wp:positionV relativeFrom="paragraph"><wp:posOffset>0</wp:posOffset></wp:positionV>'
        f'<wp:extent cx="3000000" cy="600000"/><wp:wrapSquare wrapText="bothSides"/>'
        f'<wp:docPr id="{shape_id}" name="Надпись {shape_id}"/><wp:cNvGraphicFramePr/>'
        '<a:graphic><a:graphicData uri="http://schemas.microsoft.com/office/word/2010/wordprocessingShape">'
        '<wps:wsp><wps:cNvSpPr txBox="1"/><wps:spPr><a:xfrm><a:off x="0" y="0"/>'
        '<a:ext cx="3000000" cy="600000"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom>'
        f"</wps:spPr><wps:txbx><w:txbxContent><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:txbxContent>"
        "</wps:txbx><wps:bodyPr/></wps:wsp></a:graphicData></a:graphic></wp:anchor></w:drawing>"
    )


def _vml_box(text: str) -> str:
    return (
        f'<w:pict {_NSDECL}><v:shape id="box" style="width:200pt;height:40pt" type="#_x0000_t202">'
        f"<v:textbox><w:txbxContent><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:txbxContent>"
        "</v:textbox></v:shape></w:pict>"
    )


def _run(inner: str) -> str:
    return f"<w:r {_NSDECL}>{inner}</w:r>"


def _notes_part(kind: str, text: str) -> bytes:
    # Word's two separator notes (ids -1 and 0) come first; real notes start at 1.
    tag = kind[:-1]
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:{kind} xmlns:w="{_W}">'
        f'<w:{tag} w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:{tag}>'
        f'<w:{tag} w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/></w:r>'
        f'</w:p></w:{tag}><w:{tag} w:id="1"><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:{tag}></w:{kind}>'
    ).encode()


DOCX_NAME = "containers.docx"
DOCX_CONTAINERS = [
    Container(DOCX_NAME, "body", "ключ-тело-5100"),
    Container(DOCX_NAME, "DrawingML text box", "ключ-надпись-5101"),
    Container(DOCX_NAME, "AlternateContent text box", "ключ-альтернатива-5102"),
    Container(DOCX_NAME, "VML text box", "ключ-вмл-5103"),
    Container(DOCX_NAME, "header", "ключ-колонтитул-5104"),
    Container(DOCX_NAME, "footer", "ключ-подвал-5105"),
    Container(DOCX_NAME, "footnote", "ключ-сноска-5106"),
    Container(DOCX_NAME, "endnote", "ключ-концевая-5107"),
    Container(DOCX_NAME, "comment", "ключ-примечание-5108"),
]


def make_containers_docx() -> bytes:
    """Every DOCX container of text, plus one picture (which has no text to read)."""
    keyword = {c.container: c.keyword for c in DOCX_CONTAINERS}
    document = docx.Document()
    document.add_heading("Регламент склада", level=1)
    body = document.add_paragraph(f"Приёмка товара по накладной, {keyword['body']}.")
    body._p.append(docx_xml(_run(_drawingml_box(f"Срочно: {keyword['DrawingML text box']}", 11))))
    # What Word writes: the DrawingML box with a VML copy for older readers; read it once.
    boxed = "Важно: " + keyword["AlternateContent text box"]
    alternate = (
        f'<mc:AlternateContent {_NSDECL}><mc:Choice Requires="wps">{_drawingml_box(boxed, 12)}'
        f"</mc:Choice><mc:Fallback>{_vml_box(boxed)}</mc:Fallback></mc:AlternateContent>"
    )
    second = document.add_paragraph("Отгрузка по графику.")
    second._p.append(docx_xml(_run(alternate)))
    third = document.add_paragraph("Старый формат надписи.")
    third._p.append(docx_xml(_run(_vml_box(f"Архив: {keyword['VML text box']}"))))
    notes = document.add_paragraph("Срок хранения указан в сноске")
    notes._p.append(docx_xml(_run('<w:footnoteReference w:id="1"/>')))
    notes._p.append(docx_xml(_run('<w:endnoteReference w:id="1"/>')))
    commented = document.add_paragraph().add_run("Инвентаризация раз в квартал.")
    document.add_comment(commented, text=f"Проверить, {keyword['comment']}", author="Иванов")
    document.add_picture(io.BytesIO(png()), width=docx.shared.Inches(1))
    section = document.sections[0]
    section.header.paragraphs[0].text = f"ООО «Склад» — {keyword['header']}"
    section.footer.paragraphs[0].text = f"Страница — {keyword['footer']}"
    for kind, rel_type, text in (
        ("footnotes", DOCX_RT.FOOTNOTES, f"Хранить 30 дней, {keyword['footnote']}."),
        ("endnotes", DOCX_RT.ENDNOTES, f"Источник: приказ №5, {keyword['endnote']}."),
    ):
        part = DocxPart(
            PackURI(f"/word/{kind}.xml"),
            f"application/vnd.openxmlformats-officedocument.wordprocessingml.{kind}+xml",
            _notes_part(kind, text),
            document.part.package,
        )
        document.part.relate_to(part, rel_type)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# --- PPTX -------------------------------------------------------------------------------

PPTX_NAME = "containers.pptx"
PPTX_CONTAINERS = [
    Container(PPTX_NAME, "text frame", "ключ-слайд-6200"),
    Container(PPTX_NAME, "grouped shape", "ключ-группа-6201"),
    Container(PPTX_NAME, "table", "ключ-таблица-6202"),
    Container(PPTX_NAME, "notes", "ключ-заметки-6203"),
    Container(PPTX_NAME, "chart title", "ключ-диаграмма-6204"),
    Container(PPTX_NAME, "SmartArt", "ключ-смартарт-6205"),
]

_DGM = "http://schemas.openxmlformats.org/drawingml/2006/diagram"
_A = "http://schemas.openxmlformats.org/drawingml/2006/main"


def _smartart_data(texts: list[str]) -> bytes:
    points = "".join(
        f'<dgm:pt modelId="{{0000000{i}-0000-0000-0000-000000000000}}"><dgm:prSet/><dgm:spPr/>'
        f"<dgm:t><a:bodyPr/><a:lstStyle/><a:p><a:r><a:t>{text}</a:t></a:r></a:p></dgm:t></dgm:pt>"
        for i, text in enumerate(texts, start=1)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<dgm:dataModel xmlns:dgm="{_DGM}" xmlns:a="{_A}"><dgm:ptLst>'
        f'<dgm:pt modelId="{{00000000-0000-0000-0000-000000000000}}" type="doc"><dgm:prSet/><dgm:spPr/>'
        f"<dgm:t><a:bodyPr/><a:lstStyle/><a:p><a:endParaRPr/></a:p></dgm:t></dgm:pt>{points}"
        "</dgm:ptLst><dgm:cxnLst/><dgm:bg/><dgm:whole/></dgm:dataModel>"
    ).encode()


def make_containers_pptx() -> bytes:
    """Every PPTX container of text, plus a picture and an embedded workbook (not readable)."""
    keyword = {c.container: c.keyword for c in PPTX_CONTAINERS}
    presentation = pptx.Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[5])  # title only
    slide.shapes.title.text = "Склад"
    slide.shapes.add_textbox(
        Inches(1), Inches(1.5), Inches(6), Inches(1)
    ).text_frame.text = f"Правила приёмки, {keyword['text frame']}"
    outer = slide.shapes.add_group_shape()
    inner = outer.shapes.add_group_shape()
    grouped = inner.shapes.add_shape(MSO_SHAPE.RECTANGLE, Inches(1), Inches(2.5), Inches(3), Inches(1))
    grouped.text_frame.text = f"Зона хранения, {keyword['grouped shape']}"
    table = slide.shapes.add_table(2, 2, Inches(1), Inches(4), Inches(6), Inches(1)).table
    table.cell(0, 0).text, table.cell(0, 1).text = "Зона", "Код"
    table.cell(1, 0).text, table.cell(1, 1).text = "Холодная", keyword["table"]
    slide.notes_slide.notes_text_frame.text = f"Сказать про пропуска, {keyword['notes']}"

    second = presentation.slides.add_slide(presentation.slide_layouts[5])
    second.shapes.title.text = "Показатели"
    data = CategoryChartData()  # type: ignore[no-untyped-call]  # python-pptx leaves it unannotated
    data.categories = ["Янв", "Фев"]
    data.add_series("Отгрузки", (10, 12))  # type: ignore[no-untyped-call]
    chart = second.shapes.add_chart(
        XL_CHART_TYPE.COLUMN_CLUSTERED, Inches(1), Inches(1.5), Inches(4), Inches(3), data
    ).chart
    chart.has_title = True
    chart.chart_title.text_frame.text = f"Отгрузки по месяцам, {keyword['chart title']}"
    second.shapes.add_picture(io.BytesIO(png()), Inches(6), Inches(1.5), Inches(1))
    workbook = io.BytesIO()
    openpyxl.Workbook().save(workbook)
    second.shapes.add_ole_object(io.BytesIO(workbook.getvalue()), "Excel.Sheet.12", Inches(6), Inches(4))
    _add_smartart(second, ["Приёмка", f"Хранение, {keyword['SmartArt']}", "Отгрузка"])
    buffer = io.BytesIO()
    presentation.save(buffer)
    return buffer.getvalue()


def _add_smartart(slide: pptx.slide.Slide, texts: list[str]) -> None:
    """A SmartArt frame as PowerPoint writes it: a graphicFrame whose dgm:relIds point to the parts."""
    package = slide.part.package
    data_part = PptxPart(
        PptxPackURI("/ppt/diagrams/data1.xml"),
        "application/vnd.openxmlformats-officedocument.drawingml.diagramData+xml",
        package,
        _smartart_data(texts),
    )
    rel_id = slide.part.relate_to(data_part, PPTX_RT.DIAGRAM_DATA)
    frame = pptx_xml(
        '<p:graphicFrame xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" '
        f'xmlns:a="{_A}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<p:nvGraphicFramePr><p:cNvPr id="90" name="Схема 1"/><p:cNvGraphicFramePr/><p:nvPr/>'
        '</p:nvGraphicFramePr><p:xfrm><a:off x="914400" y="4572000"/><a:ext cx="4572000" cy="914400"/>'
        f'</p:xfrm><a:graphic><a:graphicData uri="{_DGM}"><dgm:relIds xmlns:dgm="{_DGM}" '
        f'r:dm="{rel_id}" r:lo="" r:qs="" r:cs=""/></a:graphicData></a:graphic></p:graphicFrame>'
    )
    slide.shapes._spTree.append(frame)


# --- XLSX -------------------------------------------------------------------------------

XLSX_NAME = "containers.xlsx"
XLSX_CONTAINERS = [
    Container(XLSX_NAME, "cell", "ключ-ячейка-7300"),
    Container(XLSX_NAME, "merged cell", "ключ-объединение-7301"),
    Container(XLSX_NAME, "hidden sheet", "ключ-скрытый-7302"),
    Container(XLSX_NAME, "chart title", "ключ-график-7303"),
    Container(XLSX_NAME, "formula", "ключ-формула-7304"),
]


def make_containers_xlsx() -> bytes:
    """Cells, a merged block, a formula saved without a value, a hidden sheet, a chart, a picture.

    openpyxl writes formulas without cached values, as scripts do.
    """
    keyword = {c.container: c.keyword for c in XLSX_CONTAINERS}
    workbook = openpyxl.Workbook()
    orders = workbook.active
    orders.title = "Заказы"
    orders.append(["Товар", "Цена", "Кол-во", "Сумма", "Метка"])
    orders.append(["Стол", 1200, 3, "=B2*C2", f'="{keyword["formula"]}"'])
    orders.append(["Стул", 450, 8, "=B3*C3", keyword["cell"]])
    chart = BarChart()
    chart.title = f"Выручка, {keyword['chart title']}"
    chart.add_data(Reference(orders, min_col=2, min_row=1, max_row=3), titles_from_data=True)
    orders.add_chart(chart, "G2")
    orders.add_image(SheetImage(io.BytesIO(png())), "G20")
    departments = workbook.create_sheet("Отделы")
    departments.append(["Отдел", "Сотрудник"])
    departments.append([keyword["merged cell"], "Иванов"])
    departments.append([None, "Петров"])
    departments.append([None, "Сидоров"])
    departments.merge_cells("A2:A4")
    hidden = workbook.create_sheet("Служебный")
    hidden.append(["Пароль склада", keyword["hidden sheet"]])
    hidden.sheet_state = "hidden"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


ALL_CONTAINERS = DOCX_CONTAINERS + PPTX_CONTAINERS + XLSX_CONTAINERS


def corpus() -> dict[str, bytes]:
    """{file name: bytes} of the generated files."""
    return {
        DOCX_NAME: make_containers_docx(),
        PPTX_NAME: make_containers_pptx(),
        XLSX_NAME: make_containers_xlsx(),
    }
