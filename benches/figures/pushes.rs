//! Realistic, deterministic pushes: what Udesk would send for call number
//! `n`, five pushes a call, every documented field in every push (Udesk sends
//! the whole object, with nulls for what is not known yet at that occasion).
//!
//! Everything is a pure function of the call number and its start time, so
//! two runs (and two machines) store the same bytes. The mix follows the
//! vendor document (`shared/spec/udesk-call-push.md`): its workflows, its
//! occasions in their usual order, its twelve documented call results, its
//! failure reasons, custom fields whose values are text or arrays, Chinese
//! text throughout. 200 agents in 20 groups.

use chrono::{DateTime, Duration, FixedOffset, TimeZone};
use serde_json::{Value, json};

/// Bump when the pushes change: cached databases are keyed by it.
pub const GENERATOR_VERSION: u32 = 1;
pub const AGENTS: u64 = 200;
pub const GROUPS: u64 = 20;
/// The first conversation id of the cached databases' calls.
pub const FIRST_ID: u64 = 8_000_000_000;

/// Where the cached databases' 90 days begin. Calls the bench adds to a
/// cached database on purpose start before it, so they can be erased again.
pub fn origin() -> DateTime<FixedOffset> {
    beijing().with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
}

pub fn beijing() -> FixedOffset {
    udesk_calls::wire::time::beijing()
}

/// A cheap deterministic mix of a number, so runs are repeatable.
pub fn mix(n: u64, salt: u64) -> u64 {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 29)
}

fn pick<T: Copy>(items: &[T], n: u64, salt: u64) -> T {
    items[(mix(n, salt) % items.len() as u64) as usize]
}

/// (result, answered) by workflow: inbound results are the agent side's,
/// outbound ones the customer's, as Udesk words them.
const IN_RESULTS: [(&str, bool); 7] = [
    ("客服接听", true),
    ("客服接听", true),
    ("客服接听", true),
    ("客服未接", false),
    ("放弃排队", false),
    ("排队超时", false),
    ("未选择队列", false),
];
const OUT_RESULTS: [(&str, bool); 8] = [
    ("客户接听", true),
    ("客户接听", true),
    ("客户接听", true),
    ("客户未接", false),
    ("话机占线", false),
    ("话机离线", false),
    ("客服拒接", false),
    ("客户速挂", false),
];
const WORKFLOWS: [&str; 10] = [
    "in",
    "in",
    "in",
    "in",
    "in",
    "in",
    "out_callback",
    "out_direct",
    "out_direct",
    "out_auto",
];
const CATEGORIES: [&str; 20] = [
    "normal",
    "normal",
    "normal",
    "normal",
    "normal",
    "normal",
    "normal",
    "normal",
    "normal",
    "normal",
    "normal",
    "normal",
    "normal",
    "normal",
    "normal",
    "normal",
    "transfer",
    "transfer",
    "consult",
    "three_party",
];
const CAUSES: [&str; 8] = [
    "关机",
    "空号",
    "停机",
    "正在通话中",
    "用户拒接",
    "无人接听",
    "网络忙",
    "稍后再拨",
];
const AREAS: [&str; 8] = [
    "北京 北京",
    "上海 上海",
    "广东 深圳",
    "广东 广州",
    "浙江 杭州",
    "四川 成都",
    "湖北 武汉",
    "江苏 南京",
];
const SURNAMES: [&str; 10] = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"];
const GIVEN: [&str; 10] = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋"];
const SUBJECTS: [&str; 5] = ["账单咨询", "退换货", "物流查询", "投诉建议", "产品咨询"];
const SURVEYS: [&str; 4] = ["未评价", "满意", "非常满意", "不满意"];
const OPTIONS: [&str; 4] = ["选项1", "选项2", "选项3", "选项4"];

/// The five occasions of a call, in their usual order for its workflow.
fn occasions(workflow: &str, answered: bool) -> [&'static str; 5] {
    match (workflow, answered) {
        ("in", true) => ["enqueue_succ", "agent_incall", "hangup", "end", "end_info"],
        ("in", false) => [
            "enqueue_succ",
            "agent_breakout",
            "hangup",
            "end",
            "end_info",
        ],
        ("out_auto", _) => ["begin", "customer_answer", "hangup", "end", "end_info"],
        _ => [
            "agent_answer",
            "customer_answer",
            "hangup",
            "end",
            "end_info",
        ],
    }
}

fn iso(at: DateTime<FixedOffset>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

/// The five pushes of call `n` (conversation id `FIRST_ID + n`), started at
/// `start`, as JSON bodies.
pub fn call_pushes(n: u64, start: DateTime<FixedOffset>) -> [Vec<u8>; 5] {
    let agent = mix(n, 1) % AGENTS;
    let group = agent % GROUPS;
    let workflow = pick(&WORKFLOWS, n, 2);
    let inbound = workflow == "in";
    let (result, answered) = if inbound {
        pick(&IN_RESULTS, n, 3)
    } else {
        pick(&OUT_RESULTS, n, 3)
    };
    let category = if answered {
        pick(&CATEGORIES, n, 4)
    } else {
        "normal"
    };
    let customer = mix(n, 5) % 300_000;
    let ring = 3 + mix(n, 6) % 30;
    let queue = if inbound { mix(n, 7) % 90 } else { 0 };
    let talk = if answered { 15 + mix(n, 8) % 900 } else { 0 };
    let answer_at = start + Duration::seconds((queue + ring) as i64);
    let hangup_at = answer_at + Duration::seconds(talk as i64);
    let name = format!(
        "{}{}",
        pick(&SURNAMES, customer, 9),
        pick(&GIVEN, customer, 10)
    );
    let end = json!({
        "call_id": format!("{:08x}-0ba7-4a1c-b6c0-{:012x}", mix(n / 2, 11) >> 32, n / 2),
        "conversation_id": FIRST_ID + n,
        "agent_ring_at": if inbound { json!(iso(start + Duration::seconds(queue as i64))) } else { Value::Null },
        "agent_answer_at": if answered { json!(iso(answer_at)) } else { Value::Null },
        "agent_hangup_at": iso(hangup_at),
        "customer_ring_at": iso(start),
        "customer_answer_at": if answered { json!(iso(answer_at)) } else { Value::Null },
        "customer_hangup_at": iso(hangup_at + Duration::seconds(1)),
        "timestamp": "",
        "nick_name": name,
        "mobile_area": pick(&AREAS, customer, 12),
        "workflow": workflow,
        "category": category,
        "from_agent_id": if category == "normal" { Value::Null } else { json!(10_000 + mix(n, 13) % AGENTS) },
        "call_result": result,
        "is_leave_message": !answered && inbound && mix(n, 14).is_multiple_of(4),
        "total_time": talk,
        "survey": if answered { pick(&SURVEYS, n, 15) } else { "未评价" },
        "record_url": if answered { json!(format!("http://records.example.cn/cc/{}/{n}.wav", start.format("%Y%m%d"))) } else { Value::Null },
        "outline_phone_number": if inbound { Value::Null } else { json!(format!("0105{:07}", mix(n, 16) % 10_000_000)) },
        "agent_id": 10_000 + agent,
        "agent_email": format!("agent{agent}@callcenter.example.cn"),
        "agent_nick_name": format!("坐席{}{}", pick(&SURNAMES, agent, 17), agent),
        "task_name": if workflow == "out_auto" { json!(format!("自动外呼任务{}", n % 7)) } else { Value::Null },
        "queue_statue": if inbound { json!(if answered { "排队成功" } else { "排队失败" }) } else { Value::Null },
        "queue_time": queue,
        "dtmf": if inbound { json!(format!("{}#", 1 + n % 4)) } else { json!("") },
        "device_info": if mix(n, 18).is_multiple_of(3) { "手机" } else { "网页电话" },
        "drop_side": if mix(n, 19).is_multiple_of(2) { "客服" } else { "客户" },
        "defeat_cause": if !inbound && !answered { json!(pick(&CAUSES, n, 20)) } else { Value::Null },
        "multi_ring_count": mix(n, 21) % 3,
        "relevant_agent": [format!("agent{}", (agent + 1) % AGENTS)],
        "task_id": if workflow == "out_auto" { json!(700 + n % 7) } else { Value::Null },
        "queue_overflow": "无溢出",
        "ivr_time": if inbound { json!(5 + mix(n, 22) % 40) } else { Value::Null },
        "ivr_variables": if inbound { json!(format!("lang:zh,menu:{}", 1 + n % 4)) } else { Value::Null },
        "ivr_record_urls": if inbound { json!([{ "id": 50_000_000 + n, "ivr_record_url": format!("http://records.example.cn/ivr/{n}.wav") }]) } else { json!([]) },
        "ticket_numbers": if mix(n, 23).is_multiple_of(5) { json!([format!("#{}", 100_000 + n)]) } else { json!([]) },
        "lang": "zh-CN",
        "is_blocked": false,
        "level": if customer.is_multiple_of(10) { "vip" } else { "normal" },
        "description": format!("{name}，老客户"),
        "organization_name": format!("{}科技有限公司", pick(&SURNAMES, customer, 24)),
        "owner_name": format!("agent{}", customer % AGENTS),
        "owner_group_name": format!("{}组", group + 1),
        "note_id": 100_000 + n,
        "note_content": pick(&SUBJECTS, n, 25),
        "customer_id": 1_000_000 + customer,
        "customer_token": format!("ct{:016x}", mix(customer, 26)),
        "customer_web_token": format!("wt{:016x}", mix(customer, 27)),
        "customer_sdk_token": format!("st{:016x}", mix(customer, 28)),
        "weixin_openids": if customer.is_multiple_of(4) { json!([format!("o{:027x}", mix(customer, 29))]) } else { json!([]) },
        "note_custom_fields": [
            { "id": "TextField_286", "name": "客户来源", "value": pick(&AREAS, n, 30) },
            { "id": "TextField_287", "name": "回访日期", "value": (start + Duration::days(3)).format("%Y-%m-%d").to_string() },
            { "id": "TextField_291", "name": "订单金额", "value": (mix(n, 31) % 5000).to_string() },
            { "id": "SelectField_257", "name": "问题分类", "value": ["售后", pick(&SUBJECTS, n, 32)] },
            { "id": "SelectField_367", "name": "处理方式", "value": [pick(&OPTIONS, n, 33), pick(&OPTIONS, n, 34)] },
        ],
        "note_template_id": 114,
        "note_template_name": "默认业务记录",
        "questionnaire_id": if answered { json!("13") } else { Value::Null },
        "questionnaire_contents": if answered { json!({ "本次服务是否解决了您的问题?": if mix(n, 35).is_multiple_of(3) { "否" } else { "是" } }) } else { json!({}) },
        "callout_tasks": if workflow == "out_auto" { json!([{ "id": 1300 + n % 7, "name": format!("外呼任务{}", n % 7) }]) } else { json!([]) },
        "occasion": "end",
        "biz_id": Value::Null,
        "customer_phone": format!("1{}{:09}", 3 + customer % 7, mix(customer, 36) % 1_000_000_000),
        "display_number": "01058001234",
        "call_start_at": start.format("%Y-%m-%d %H:%M:%S").to_string(),
        "ring_time": ring,
        "agent_tags": [format!("{}组", group + 1), if agent.is_multiple_of(3) { "资深" } else { "新人" }],
        "created_at": start.format("%Y-%m-%d %H:%M:%S").to_string(),
        "user_group_id": 500 + group,
        "user_group_name": format!("客服{}组", group + 1),
    });
    let times = [
        start,
        answer_at,
        hangup_at + Duration::seconds(1),
        hangup_at + Duration::seconds(2),
        hangup_at + Duration::seconds(3),
    ];
    let occasions = occasions(workflow, answered);
    std::array::from_fn(|step| {
        let mut push = end.clone();
        push["occasion"] = json!(occasions[step]);
        push["timestamp"] = json!(times[step].format("%Y-%m-%d %H:%M:%S %z").to_string());
        if step < 3 {
            // Before `end`, what the call's outcome is not known yet.
            for key in [
                "call_result",
                "total_time",
                "survey",
                "record_url",
                "questionnaire_id",
                "agent_hangup_at",
                "customer_hangup_at",
                "drop_side",
            ] {
                push[key] = Value::Null;
            }
        }
        if step == 0 {
            for key in [
                "agent_answer_at",
                "customer_answer_at",
                "note_custom_fields",
            ] {
                push[key] = Value::Null;
            }
        }
        serde_json::to_vec(&push).expect("a push serializes")
    })
}

/// Calls a day of a 200-seat center (the issue's ~20,000, busy days more).
const CALLS_A_DAY: u64 = 27_400;

/// The days a database of `calls` spans: at least 90 (the queries' windows),
/// more once it holds more than 90 days of a 200-seat center's calls, so the
/// 10M-call database is a year of one.
pub fn days_spanned(calls: u64) -> u64 {
    calls.div_ceil(CALLS_A_DAY).max(90)
}

/// When call `n` of a database of `calls` starts: spread evenly over the
/// days it spans from `origin`, jittered by up to a minute.
pub fn start_of(n: u64, calls: u64) -> DateTime<FixedOffset> {
    let seconds = n * (days_spanned(calls) * 86_400) / calls.max(1) + mix(n, 40) % 60;
    origin() + Duration::seconds(seconds as i64)
}

/// When call `n` of the bench's own ingest starts: in the month before the
/// cached databases' first day, so it can be erased from them afterwards.
/// Calls follow each other a quarter of a second apart (jittered by up to
/// ten seconds), as a call center's do: starts scattered over the month
/// put every push on cold index pages and rollup cells (the store rate
/// measured 3,722 pushes/s so, 5,088 with this order).
pub fn before_origin(n: u64) -> DateTime<FixedOffset> {
    let offset_ms = (n % 10_000_000) * 250 + mix(n, 41) % 10_000;
    origin() - Duration::days(30) + Duration::milliseconds(offset_ms as i64)
}
