// The NVR page's strings in every language it speaks (tests/test_translations.py checks them).

import { translator } from "./nvr-i18n.js";

// STRINGS-BEGIN
export const STRINGS = {
  "en": {
    "title": "NVR playback",
    "no_nvr": "No NVR is set up yet.",
    "loading": "Loading…",
    "previous_day": "Previous day",
    "next_day": "Next day",
    "play": "Play",
    "pause": "Pause",
    "speed": "Speed",
    "previous_event": "Previous event",
    "next_event": "Next event",
    "select_span": "Select span",
    "export": "Export",
    "export_hint": "First select a span on the bar: press Select span (or hold Shift) and drag.",
    "exporting": "Exporting {channel}…",
    "exported": "Downloaded {name}",
    "export_failed": "Export of {channel} failed: {error}",
    "no_footage": "No footage",
    "cannot_play": "This browser cannot play {codec} video. Export the span and play the file with a desktop player.",
    "pick_channels": "Tick up to 4 channels to play.",
    "too_many": "Up to 4 channels play at once.",
    "click_to_play": "Click a moment on the bar to play from it.",
    "motion": "Motion",
    "manual": "Manual recording",
    "live": "Live"
  },
  "zh-Hans": {
    "title": "NVR 回放",
    "no_nvr": "尚未设置 NVR。",
    "loading": "加载中…",
    "previous_day": "前一天",
    "next_day": "后一天",
    "play": "播放",
    "pause": "暂停",
    "speed": "速度",
    "previous_event": "上一个事件",
    "next_event": "下一个事件",
    "select_span": "选择时间段",
    "export": "导出",
    "export_hint": "请先在时间条上选择时间段：点击“选择时间段”（或按住 Shift）并拖动。",
    "exporting": "正在导出 {channel}…",
    "exported": "已下载 {name}",
    "export_failed": "{channel} 导出失败：{error}",
    "no_footage": "无录像",
    "cannot_play": "此浏览器无法播放 {codec} 视频。请导出该时间段，并用桌面播放器播放文件。",
    "pick_channels": "勾选最多 4 个通道进行回放。",
    "too_many": "最多同时回放 4 个通道。",
    "click_to_play": "点击时间条上的某一时刻，从该时刻开始回放。",
    "motion": "移动侦测",
    "manual": "手动录像",
    "live": "实时"
  },
  "ko": {
    "title": "NVR 재생",
    "no_nvr": "아직 설정된 NVR이 없습니다.",
    "loading": "불러오는 중…",
    "previous_day": "이전 날",
    "next_day": "다음 날",
    "play": "재생",
    "pause": "일시 정지",
    "speed": "속도",
    "previous_event": "이전 이벤트",
    "next_event": "다음 이벤트",
    "select_span": "구간 선택",
    "export": "내보내기",
    "export_hint": "먼저 타임라인에서 구간을 선택하세요: 구간 선택을 누르거나 Shift를 누른 채 드래그합니다.",
    "exporting": "{channel} 내보내는 중…",
    "exported": "{name} 다운로드됨",
    "export_failed": "{channel} 내보내기 실패: {error}",
    "no_footage": "녹화 없음",
    "cannot_play": "이 브라우저는 {codec} 비디오를 재생할 수 없습니다. 구간을 내보내서 데스크톱 플레이어로 재생하세요.",
    "pick_channels": "재생할 채널을 최대 4개까지 선택하세요.",
    "too_many": "한 번에 최대 4개 채널을 재생합니다.",
    "click_to_play": "타임라인에서 시점을 클릭하면 그 시점부터 재생합니다.",
    "motion": "모션",
    "manual": "수동 녹화",
    "live": "실시간"
  }
};
// STRINGS-END

export const tr = translator(STRINGS);
