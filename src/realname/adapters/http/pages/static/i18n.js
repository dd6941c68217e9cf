// The pages' language and the store's time zone. Simplified Chinese (zh-CN) is the default; English is selectable
// (the choice is kept in this browser). Texts are written in English in the markup and the scripts and looked up
// here by that English text (as gettext does): t("Sign in") is "登录" in zh-CN. apply() translates the page's
// static text and placeholders; scripts call t() for what they write. An English text missing from a catalogue
// shows in English (tests/e2e/test_browser_i18n.py checks that every text on the pages has its translation).
// Times are shown in the store's time zone: the outlet's, named by the API at sign-in, Asia/Shanghai otherwise.
"use strict";

(function () {
  const LANG_KEY = "realname.lang";
  const ZONE_KEY = "realname.time_zone";
  const DEFAULT_LANG = "zh-CN";
  const DEFAULT_TIME_ZONE = "Asia/Shanghai";
  const LANGUAGES = { "zh-CN": "中文", en: "English" };

  const ZH = {
    // --- shared: bars, sign-in, banners ---
    "Sign out": "退出登录",
    "Staff code": "员工编号",
    "Password": "密码",
    "Sign in": "登录",
    "Page locked": "页面已锁定",
    "No activity for {minutes} minutes. Enter your password to go on; the customer's visit is kept.":
      "已 {minutes} 分钟无操作。请输入密码继续，本次业务已保留。",
    "Your sign-in has expired. Enter your password to go on; the customer's visit is kept.":
      "登录已过期。请输入密码继续，本次业务已保留。",
    "Unlock": "解锁",
    "Change password": "修改密码",
    "Choose your password": "设置您的密码",
    "Before you start, replace the password you were given with one of your own.": "开始工作前，请把发给您的密码换成您自己的密码。",
    "Enter your current password and a new one.": "请输入当前密码和新密码。",
    "Current password": "当前密码",
    "New password (at least 10 characters)": "新密码（至少 10 个字符）",
    "New password again": "再次输入新密码",
    "Save the password": "保存密码",
    "The two new passwords differ.": "两次输入的新密码不一致。",
    "clerk": "营业员",
    "reviewer": "复核员",
    "admin": "管理员",
    "auditor": "审计员",
    "Language": "语言",
    "Something went wrong on this page.": "页面出错了。",
    "The service cannot be reached. Check the connection and try again.": "无法连接服务，请检查网络后重试。",
    "The service answered {status}.": "服务返回 {status}。",
    "ref": "参考号",
    // --- kiosk ---
    "realname kiosk": "实名登记 · 营业厅",
    "realname · store kiosk": "实名登记 · 营业厅",
    "Enroll this kiosk": "登记本终端",
    "The server takes the customer's chip photo only from an enrolled kiosk, which signs what its card reader read. Make this kiosk's key (it never leaves this browser), then ask an admin to enroll the public key:":
      "服务器只接受已登记终端读取并签名的证件芯片照片。请先生成本终端的密钥（密钥不会离开本浏览器），再请管理员登记公钥：",
    "Public key:": "公钥：",
    "(none yet)": "（尚未生成）",
    "Make this kiosk's key": "生成本终端密钥",
    "Terminal id printed by": "终端编号，由以下命令输出：",
    "Save the terminal id": "保存终端编号",
    "Make this kiosk's key first.": "请先生成本终端密钥。",
    "This kiosk is not enrolled as a terminal.": "本终端尚未登记。",
    "not enrolled": "未登记",
    "Clerk sign-in": "营业员登录",
    "New visit": "新业务",
    "Same customer: their ID details stay filled in. Each service needs its own consent and face check.":
      "同一位客户：证件信息保留。每项业务都需要单独的同意和人脸核验。",
    "A different customer": "换一位客户",
    "Start when the customer is at the counter with their ID card. What is the visit for?":
      "客户持身份证到柜台后开始。本次办理什么业务？",
    "Register a new number": "新号码入网",
    "Replace a SIM card": "补换 SIM 卡",
    "Surrender a number": "销号",
    "Re-verify a suspended number": "停机号码重新核验",
    "Every service starts with the customer's ID document and a face check. Kiosk device:":
      "每项业务都从读取客户证件和人脸核验开始。本机设备号：",
    "· terminal": "· 终端",
    "Terminal setup": "终端设置",
    "Visit: {purpose}": "业务：{purpose}",
    "Face check result": "人脸核验结果",
    "Choose a number": "选择号码",
    "Try again with a new challenge": "换一组动作重试",
    "End this visit": "结束本次业务",
    "Continue: {service}": "继续：{service}",
    "Verified: the customer is who the ID says": "核验通过：客户与证件一致",
    "Not verified": "核验未通过",
    "The face check could not be completed": "人脸核验未能完成",
    "Reason: {reason}": "原因：{reason}",
    "Next: choose a number for the customer.": "下一步：为客户选择号码。",
    "Next: confirm the surrender.": "下一步：确认销号。",
    "Next: scan the new SIM card.": "下一步：扫描新 SIM 卡。",
    "Next: confirm the re-verification.": "下一步：确认重新核验。",
    "Next: show the customer their records.": "下一步：向客户展示其记录。",
    "Next: try again with a new challenge, or end the visit and ask for a manual review.":
      "下一步：换一组动作重试，或申请人工复核。",
    "Starts with": "开头为",
    "Ends with (? = any digit)": "结尾为（? 代表任意数字）",
    "Search": "搜索",
    "First page": "第一页",
    "Next page": "下一页",
    "No available number matches.": "没有符合条件的可用号码。",
    "SIM card": "SIM 卡",
    "Number {number} is held until {time}.": "号码 {number} 预留至 {time}。",
    "SIM ICCID (19–20 digits)": "SIM 卡 ICCID（19–20 位）",
    "Name as on the ID card (optional; kept encrypted, lets banks check the number against it)":
      "证件姓名（可选；加密保存，用于银行核验号码与姓名是否一致）",
    "Complete registration": "完成入网登记",
    "The customer's number": "客户的号码",
    "New SIM ICCID (19–20 digits)": "新 SIM 卡 ICCID（19–20 位）",
    "The customer confirms they give up this number": "客户确认放弃此号码",
    "Registered": "登记完成",
    "Next customer": "下一位客户",
    "Another service for this customer": "为该客户办理其他业务",
    "Manual review requested": "已申请人工复核",
    "The customer declined the face check. A reviewer will handle this registration in person with the customer.":
      "客户不同意人脸核验。复核员将与客户当面办理本次登记。",
    "Visit ended": "业务已结束",
    "This visit was closed. Nothing was registered.": "本次业务已关闭，未登记任何号码。",
    // owner services and receipts
    "New SIM": "新 SIM 卡",
    "SIM taken back": "收回的 SIM 卡",
    "SIM": "SIM 卡",
    "Ask the customer for the number whose SIM card is replaced, then scan the new SIM card.":
      "请客户说出要补换 SIM 卡的号码，然后扫描新 SIM 卡。",
    "Bind the new SIM card": "绑定新 SIM 卡",
    "SIM card replaced": "SIM 卡已补换",
    "The new SIM card {iccid} now serves {number}. The old SIM card no longer works.":
      "新 SIM 卡 {iccid} 已用于号码 {number}，旧卡已失效。",
    "Give the customer the new SIM card and keep the old one for destruction.": "将新 SIM 卡交给客户，旧卡收回销毁。",
    "Ask the customer for the number they give up. It stops working at once.": "请客户说出要注销的号码，注销后立即停止使用。",
    "Surrender the number": "注销号码",
    "Number surrendered": "号码已注销",
    "Number {number} no longer belongs to this customer and has stopped working.":
      "号码 {number} 已不属于该客户，并已停止使用。",
    "Take back the SIM card for destruction. The number rests for a cooling-off period before anyone else can have it.":
      "收回 SIM 卡销毁。号码经过冷冻期后才会重新放号。",
    "Ask the customer for the suspended number.": "请客户说出被停机的号码。",
    "Re-activate the number": "恢复号码",
    "Number active again": "号码已恢复",
    "Number {number} is active again.": "号码 {number} 已恢复使用。",
    "The customer can use the number with their current SIM card straight away.": "客户可立即用现有 SIM 卡使用该号码。",
    "Number {number} is registered to the customer.": "号码 {number} 已登记到该客户名下。",
    "Give the customer the SIM card; the number works once it is inserted.": "将 SIM 卡交给客户，插卡后即可使用。",
    "Next: {step}": "下一步：{step}",
    "Number": "号码",
    "Number is now": "号码状态",
    "Offered again after": "重新放号时间",
    "Outlet": "营业厅",
    "Numbers held under this ID": "该证件名下号码数",
    "Issued": "办理时间",
    "Clerk code": "营业员工号",
    "Print receipt (A4)": "打印回执（A4）",
    "Print receipt (80 mm)": "打印回执（80 毫米热敏纸）",
    "Real-name registration receipt": "实名登记业务回执",
    "Keep this receipt. Check every number registered under your ID at any time on the self-service page (/me).":
      "请妥善保管本回执。您可随时在自助查询页面（/me）查看您证件名下的全部号码。",
    "Reference": "业务编号",
    "active": "正常",
    "suspended": "停机",
    "cooling": "冷冻期",
    "reserved": "预留",
    "available": "可用",
    // review loop at the kiosk
    "Suspected fraud: the camera may have been shown a photo, a screen or a mask.": "疑似冒用：摄像头前可能是照片、屏幕或面具。",
    "Do not simply try again. Check the customer and their ID card in person; a reviewer has been asked to look at this visit.":
      "请勿直接重试。请当面核实客户及其身份证；已通知复核员审查本次业务。",
    "Why should a reviewer look at this? (for example: the customer's ID photo is 15 years old)":
      "申请复核的理由（例如：客户证件照片已有 15 年）",
    "Request review": "申请人工复核",
    "Follow the review": "查看复核进度",
    "Waiting for the review": "等待复核",
    "Reviewers see this visit in their queue. An approval needs two reviewers; the visit carries on here as soon as it stands. The customer's number is not reserved meanwhile.":
      "复核员会在队列中看到本次业务。批准需要两位复核员确认；批准后本页面将自动继续办理。等待期间不会为客户预留号码。",
    "Check now": "立即刷新",
    "A reviewer will look at this visit.": "复核员将审查本次业务。",
    "One reviewer approved; waiting for a second reviewer.": "一位复核员已批准，等待第二位复核员确认。",
    "The review is closed.": "复核已结案。",
    "The second reviewer did not confirm: the rejection stands.": "第二位复核员未确认：维持拒绝。",
    "The reviewers did not approve this visit. End it and tell the customer.": "复核未批准本次业务。请结束业务并告知客户。",
    // --- identity check: document, reader, consent, capture ---
    "ID document": "身份证件",
    "Looking for the card reader…": "正在查找读卡器…",
    "Read the ID card": "读取身份证",
    "Enter the details by hand": "手工录入",
    "Card on the reader.": "读卡器上有证件。",
    "Card reader ready: put the ID card on the reader.": "读卡器就绪：请将身份证放在读卡器上。",
    "No card reader: enter the details by hand ({code}).": "未连接读卡器：请手工录入（{code}）。",
    "Card read; card front captured.": "已读取证件，已拍摄证件正面。",
    "Card read (no card-front image).": "已读取证件（无证件正面图像）。",
    "Read from the ID card's chip by the card reader.": "以下信息由读卡器从身份证芯片读取。",
    "Typed by hand from the document.": "以下信息按证件手工录入。",
    "Read the card, or choose the chip photo.": "请读取证件，或选择芯片照片。",
    "No card reader is configured for this kiosk.": "本终端未配置读卡器。",
    "The card reader service on this PC does not answer.": "本机读卡服务无响应。",
    "The card reader service speaks another protocol.": "本机读卡服务协议不符。",
    "The card reader failed.": "读卡失败。",
    "The card reader sent a card without {field}.": "读卡器返回的证件信息缺少 {field}。",
    "The card reader sent an image in an unknown form.": "读卡器返回的图像格式无法识别。",
    "Chip photo": "芯片照片",
    "Card front": "证件正面",
    "Document type": "证件类型",
    "Detect automatically": "自动识别",
    "Resident identity card": "居民身份证",
    "Residence permit (HK/Macau/Taiwan residents)": "港澳台居民居住证",
    "Foreign permanent resident ID": "外国人永久居留身份证",
    "Mainland travel permit (HK/Macau)": "港澳居民来往内地通行证",
    "Mainland travel permit (Taiwan)": "台湾居民来往大陆通行证",
    "Passport (machine-readable zone)": "护照（机读区）",
    "Document number": "证件号码",
    "Machine-readable zone: the two or three lines at the foot of the page, one per line":
      "机读区：资料页底部的两行或三行，每行一行录入",
    "Name": "姓名",
    "Sex": "性别",
    "Not given": "未填写",
    "Male": "男",
    "Female": "女",
    "Ethnicity": "民族",
    "Birth date": "出生日期",
    "Valid from (issue date)": "有效期起始（签发日期）",
    "Valid until": "有效期至",
    "Long term (长期, no end date)": "长期（无截止日期）",
    "Address": "住址",
    "Issuing authority": "签发机关",
    "Photo read from the card's chip (only without a reader)": "证件芯片照片（仅在无读卡器时选择）",
    "Address, ethnicity and issuing authority are for comparing with the customer and the card; they are not sent to the service.":
      "住址、民族和签发机关仅供与客户及证件核对，不会发送到服务器。",
    "Check document": "核验证件",
    "Document check": "证件核验",
    "Document accepted": "证件核验通过",
    "Document not accepted": "证件核验未通过",
    "Continue to consent": "继续：告知同意",
    "Correct the details": "修改信息",
    "Consent to the face check": "人脸识别单独同意",
    "Read this before agreeing. Version": "同意前请阅读。版本",
    "I agree": "我同意",
    "I do not agree": "我不同意",
    "Face check": "人脸核验",
    "Getting the camera ready…": "正在打开摄像头…",
    // the ready step and its framing guide (framing.js), camera failures (capture.js)
    "Ready? The customer looks into the camera, with the face inside the oval.": "准备好了吗？请客户正视摄像头，脸部位于椭圆框内。",
    "Start recording": "开始录制",
    "Try the camera again": "重试摄像头",
    "Checking the picture…": "正在检查画面…",
    "Framed: press Start when the customer is ready.": "位置合适：客户准备好后请按“开始录制”。",
    "No face found: look straight into the camera.": "未检测到人脸：请正视摄像头。",
    "More than one face: only the customer may be in the picture.": "检测到多张人脸：画面中只能有客户本人。",
    "Too far away: come closer to the camera.": "距离太远：请靠近摄像头。",
    "Too close: move back a little.": "距离太近：请稍微后退。",
    "Move into the middle of the picture, inside the oval.": "请移到画面中央的椭圆框内。",
    "Too dark: face the light, or switch a light on.": "光线太暗：请面向光源或打开灯。",
    "Too bright: move out of the direct light.": "光线太亮：请避开直射光。",
    "No camera found: connect the kiosk's camera, then try again.": "未找到摄像头：请连接本终端的摄像头后重试。",
    "No suitable camera found: connect the kiosk's camera, then try again.": "未找到可用的摄像头：请连接本终端的摄像头后重试。",
    "The browser is not allowed to use the camera: allow the camera for this page in the browser's site settings, then try again.":
      "浏览器无权使用摄像头：请在浏览器的网站设置中允许本页面使用摄像头，然后重试。",
    "The camera is busy or failed to start: close any other program using it (or reconnect it), then try again.":
      "摄像头被占用或无法启动：请关闭正在使用摄像头的其他程序（或重新连接摄像头），然后重试。",
    "The camera could not be opened: reconnect it and try again.": "无法打开摄像头：请重新连接后重试。",
    "This page cannot use a camera here: open it over https or on this computer's own address.":
      "此处无法使用摄像头：请通过 https 或本机地址打开本页面。",
    "Checking…": "核验中…",
    "Checking the face against the ID photo. This takes a few seconds.": "正在将人脸与证件照片比对，需要几秒钟。",
    "Blink both eyes once": "请眨一下眼睛",
    "Turn your head to your left, then back": "请向左转头，再转回来",
    "Turn your head to your right, then back": "请向右转头，再转回来",
    "Nod: look down, then back up": "请点头：先低头，再抬头",
    // document reasons and decision categories
    "The number does not have the layout of this document type.": "号码格式与该证件类型不符。",
    "The check digit does not match: a digit was probably mistyped.": "校验位不符：可能输错了一位。",
    "The region code in the number does not exist.": "号码中的行政区划代码不存在。",
    "Documents from this region are not accepted here.": "本营业厅不受理该地区的证件。",
    "The birth date in the number is not a real date.": "号码中的出生日期无效。",
    "The birth date is in the future.": "出生日期晚于今天。",
    "The issue date is in the future.": "签发日期晚于今天。",
    "The document has expired.": "证件已过期。",
    "The validity period is not possible for this document.": "该证件的有效期限不合理。",
    "The customer is below the minimum age for registering a number.": "客户未达到办理入网的最低年龄。",
    "The nationality code is not known.": "国籍代码无法识别。",
    "The birth date read from the card differs from the one in the number.": "证件读取的出生日期与号码中的不一致。",
    "The sex read from the card differs from the one in the number.": "证件读取的性别与号码中的不一致。",
    "A problem with the ID document.": "证件有问题。",
    "The requested movements were not seen clearly, in order, in time.": "未能按顺序、在规定时间内清楚看到指定动作。",
    "The camera may not be seeing a live person (photo, screen or mask suspected).":
      "摄像头前可能不是真人（疑似照片、屏幕或面具）。",
    "The face does not match the photo on the ID card.": "人脸与证件照片不一致。",
    "The picture was not good enough: check the light, the distance and that only one face is visible.":
      "画面质量不足：请检查光线、距离，并确保画面中只有一张人脸。",
    "Too many failed tries with this ID or on this kiosk: try again later or ask for a manual review.":
      "该证件或本终端失败次数过多：请稍后再试或申请人工复核。",
    "The operator's rules do not allow this registration (for example, the number limit per ID).":
      "运营商规则不允许本次登记（例如超过每证号码数上限）。",
    // --- self-service ---
    "realname · my numbers": "实名登记 · 我的号码",
    "Numbers registered under your ID": "您证件名下的号码",
    "See every phone number registered with your identity document, every registration attempt made with it (including failed ones, at which store and when), every time staff looked at your data, and any lock-out on your ID. If a number is not yours, report it: a reviewer looks into it.":
      "查看用您的证件登记的所有号码、用该证件办理的每一次业务（包括失败的，在哪个营业厅、什么时间）、工作人员每一次查看您的信息，以及您证件的锁定记录。如有号码不是您本人办理，请举报，复核员会进行核查。",
    "First prove it is you: your ID number and your name, then a one-time code we send by SMS to a number already registered under your ID.":
      "请先证明是您本人：填写证件号码和姓名，我们会向您证件名下已登记的号码发送一次性短信验证码。",
    "Start": "开始",
    "Your ID": "您的证件",
    "Your name, as on the card": "您的姓名（与证件一致）",
    "Send me a code": "发送验证码",
    "Enter the code": "输入验证码",
    "If your ID and name match our records, we sent a 6-digit code by SMS to a number registered under your ID. It is valid until {time}.":
      "如果您的证件和姓名与记录一致，我们已向您证件名下的号码发送 6 位短信验证码，有效期至 {time}。",
    "Code": "验证码",
    "Show my records": "查看我的记录",
    "Send a new code": "重新发送验证码",
    "Wrong code. Tries left: {count}": "验证码错误。剩余次数：{count}",
    "We could not confirm it is you": "无法确认您的身份",
    "Too many wrong codes. Start again later, or visit a store of your operator with your ID card: staff can check your identity in person.":
      "验证码错误次数过多。请稍后重试，或携带身份证到营业厅由工作人员当面核验。",
    "Your records": "您的记录",
    "Numbers under your ID": "您证件名下的号码",
    "A number you do not know? Press \"Not mine\": a reviewer contacts the store that registered it and suspends the number once the report is confirmed.":
      "有不认识的号码？请点“非本人”：复核员会联系办理该号码的营业厅，举报核实后停机。",
    "State": "状态",
    "Since": "起始时间",
    "Store": "营业厅",
    "Lock-outs on your ID": "您证件的锁定记录",
    "After repeated face mismatches against your card's chip photo at a store, your ID is locked for a while: someone may have tried to use your card.":
      "在营业厅多次人脸与证件芯片照片不一致后，您的证件会被暂时锁定：可能有人试图冒用您的证件。",
    "From": "开始",
    "Until": "结束",
    "Now": "当前",
    "locked": "锁定中",
    "Attempts made with your ID": "用您证件办理的业务",
    "A failed attempt at a store you never visited may mean someone used your ID.": "如果在您从未去过的营业厅有失败记录，可能有人冒用了您的证件。",
    "When": "时间",
    "For": "业务",
    "Outcome": "结果",
    "Checks by banks and platforms": "银行和平台的核验记录",
    "Every time a bank or platform asked whether one of your numbers belongs to you (they only learn yes or no). Not something you agreed to? Press \"Unwanted\": a reviewer looks into that party. You can also block one party, or all checks on a number.":
      "银行或平台每次查询您的号码是否属于您（对方只知道“是”或“否”）。不是您同意的？请点“未经同意”，复核员会核查该机构。您也可以屏蔽某个机构或某个号码的全部查询。",
    "Who": "谁",
    "Purpose": "用途",
    "Check": "核验",
    "Answer": "结果",
    "Your consent": "您的授权",
    "Your blocks": "您的屏蔽",
    "Blocked": "已屏蔽",
    "Who looked at your data": "谁查看了您的信息",
    "What": "做了什么",
    "Report received": "已收到举报",
    "Back to my records": "返回我的记录",
    "No number is registered under your ID.": "您的证件名下没有号码。",
    "No lock-out on your ID.": "您的证件没有锁定记录。",
    "No attempt recorded.": "没有业务记录。",
    "Nobody has looked at your data.": "没有人查看过您的信息。",
    "No bank or platform has checked your numbers.": "没有银行或平台查询过您的号码。",
    "No blocks.": "没有屏蔽。",
    "Not mine": "非本人",
    "Report a number as not yours?": "举报号码非本人办理？",
    "A reviewer will ask the store that registered it for its evidence. If the report is confirmed the number is suspended, also for whoever uses it now. Report it only if you did not register it.":
      "复核员将向办理该号码的营业厅调取证据。举报核实后号码将停机，正在使用该号码的人也将无法使用。请仅在号码确非您本人办理时举报。",
    "Yes, it is not mine: report it": "确认：非本人办理，举报",
    "Cancel": "取消",
    "Staff": "工作人员",
    "You": "您本人",
    "Bank or platform": "银行或平台",
    "The operator's system": "运营商系统",
    "document.checked": "核验证件",
    "consent.accepted": "同意人脸识别",
    "consent.declined": "不同意人脸识别",
    "challenge.issued": "发起动作核验",
    "verification.decided": "人脸核验结果",
    "number.reserved": "预留号码",
    "number.assigned": "号码登记到您名下",
    "number.surrendered": "注销号码",
    "sim.replaced": "补换 SIM 卡",
    "number.reverified": "重新核验号码",
    "review.case_viewed": "复核员查看案件",
    "review.requested": "申请人工复核",
    "review.decided": "复核决定",
    "review.proposed": "复核员提出决定",
    "self.records_viewed": "您查看了自己的记录",
    "self.code_sent": "发送验证码",
    "self.code_verified": "验证码核验",
    "self.not_mine_reported": "举报非本人号码",
    "attempt.abandoned": "结束业务",
    "visit.ended": "结束业务",
    "Unwanted": "未经同意",
    "reported": "已举报",
    "Block checks": "屏蔽查询",
    "Block {party}": "屏蔽 {party}",
    "Lift": "解除",
    "all checks on {number}": "{number} 的全部查询",
    "all checks by {party}": "{party} 的全部查询",
    "Report received. A reviewer will ask the store that registered the number for its evidence; the number is suspended once the report is confirmed. It is {state} now.":
      "已收到举报。复核员将向办理该号码的营业厅调取证据；举报核实后号码将停机。号码当前状态：{state}。",
    "register": "新号码入网",
    "surrender": "销号",
    "sim_replacement": "补换 SIM 卡",
    "reverify": "重新核验",
    "self_service": "自助查询",
    "approved": "通过",
    "three_element": "三要素（号码、姓名、证件号）",
    "two_element": "二要素（号码、证件号）",
    "held_since": "号码是否未换主",
    "status": "号码状态",
    "match": "一致",
    "no_match": "不一致",
    "not_in_service": "未使用",
    "blocked": "已屏蔽",
    "rejected": "未通过",
    // --- review ---
    "realname · review queue": "实名登记 · 复核队列",
    "Reviewer sign-in": "复核员登录",
    "Open cases": "待处理案件",
    "Manual-path requests, borderline rejections and \"not mine\" reports. Every decision needs a reason; approving or reinstating needs a second reviewer.":
      "人工办理申请、临界拒绝和“非本人”举报。每个决定都需要填写理由；批准或恢复需要第二位复核员确认。",
    "Refresh": "刷新",
    "Decision": "决定",
    "Choose…": "请选择…",
    "Reject": "拒绝",
    "Approve (needs a second reviewer)": "批准（需第二位复核员确认）",
    "Keep the number suspended": "维持停机",
    "Reinstate the number (needs a second reviewer)": "恢复号码（需第二位复核员确认）",
    "Keep the party suspended": "维持暂停该依赖方",
    "Reinstate the party (needs a second reviewer)": "恢复该依赖方（需第二位复核员确认）",
    "Suspend the party": "暂停该依赖方",
    "Dismiss the report": "驳回举报",
    "Reason": "理由",
    "Record decision": "记录决定",
    "No open case.": "没有待处理案件。",
    "Opened": "提出时间",
    "Challenges drawn": "已发动作挑战数",
    "Relying party": "依赖方",
    "Attempt": "业务编号",
    "Proposed": "第一位复核员的决定",
    "{decision} by {who}": "{decision}（{who}）",
    "Decision recorded: the case is {state}.": "已记录决定：案件{state}。",
    "Manual path requested (customer declined the face check)": "申请人工办理（客户不同意人脸核验）",
    "Review requested by the clerk after a rejection": "营业员对未通过的核验申请复核",
    "Suspected spoof (photo, screen or mask)": "疑似冒用（照片、屏幕或面具）",
    "Document": "证件",
    "Reason category": "原因类别",
    "Reasons": "原因代码",
    "Similarity (reviewers only)": "相似度（仅复核员可见）",
    "Clerk": "营业员",
    "Face check at": "核验时间",
    "Requested by": "申请人",
    "Clerk's reason": "营业员理由",
    "First reviewer's reason": "第一位复核员的理由",
    "cn_resident": "居民身份证",
    "cn_residence_permit": "港澳台居民居住证",
    "cn_foreign_permanent": "外国人永久居留身份证",
    "hk_macau_permit": "港澳居民来往内地通行证",
    "taiwan_permit": "台湾居民来往大陆通行证",
    "mrz": "护照",
    "approve": "批准",
    "reject": "拒绝",
    "suspend_confirmed": "维持停机",
    "reinstate": "恢复",
    "A spoof was suspected (photo or screen)": "疑似有人用照片或屏幕冒用",
    "Borderline rejection": "临界拒绝",
    "Reported as not mine by the subscriber": "用户举报“非本人”",
    "Relying party suspended: its checks looked like enumeration": "依赖方已暂停：其查询疑似批量枚举",
    "A relying party's check reported as unwanted by the subscriber": "用户举报依赖方的查询未经同意",
    "open": "待处理",
    "awaiting a second reviewer": "等待第二位复核员",
    "closed": "已结案",
    "closed: the second reviewer refused the override": "已结案：第二位复核员未同意",
  };

  const CATALOGUES = { "zh-CN": ZH, en: {} };

  let lang = localStorage.getItem(LANG_KEY);
  if (!CATALOGUES[lang]) lang = DEFAULT_LANG;

  function t(text, vars) {
    const found = CATALOGUES[lang][text];
    let out = found === undefined ? text : found;
    if (vars) for (const [name, value] of Object.entries(vars)) out = out.split("{" + name + "}").join(String(value));
    return out;
  }

  // The English original of every static text node and attribute, so the page can switch back and forth.
  const originals = new WeakMap();
  const ATTRIBUTES = ["placeholder", "alt", "title", "aria-label"];

  function apply(root) {
    document.documentElement.lang = lang;
    const walker = document.createTreeWalker(root || document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (!parent || parent.closest("script, style, pre, code, [data-no-i18n]")) continue;
      if (!originals.has(node)) {
        const text = node.nodeValue.replace(/\s+/g, " ").trim();
        if (!text || !(text in ZH)) continue;
        originals.set(node, { text, raw: node.nodeValue });
      }
      const original = originals.get(node);
      const lead = original.raw.match(/^\s*/)[0] ? " " : "";
      const trail = original.raw.match(/\s*$/)[0] ? " " : "";
      node.nodeValue = lead + t(original.text) + trail;
    }
    for (const element of (root || document).querySelectorAll(ATTRIBUTES.map((a) => "[" + a + "]").join(","))) {
      for (const name of ATTRIBUTES) {
        if (!element.hasAttribute(name)) continue;
        const key = "data-i18n-" + name;
        if (!element.hasAttribute(key)) element.setAttribute(key, element.getAttribute(name));
        element.setAttribute(name, t(element.getAttribute(key)));
      }
    }
    const title = document.querySelector("title");
    if (title) {
      if (!title.dataset.en) title.dataset.en = title.textContent.trim();
      title.textContent = t(title.dataset.en);
    }
  }

  const listeners = [];

  function setLang(value) {
    if (!CATALOGUES[value]) return;
    lang = value;
    localStorage.setItem(LANG_KEY, value);
    apply();
    for (const listener of listeners) listener(value);
  }

  function onChange(listener) {
    listeners.push(listener);
  }

  // The store's time zone: the one the API named at sign-in (per outlet), else the default.
  function timeZone() {
    return sessionStorage.getItem(ZONE_KEY) || DEFAULT_TIME_ZONE;
  }

  function setTimeZone(zone) {
    if (zone) sessionStorage.setItem(ZONE_KEY, zone);
    else sessionStorage.removeItem(ZONE_KEY);
  }

  // A date and time as the store's clock shows it, in the page's language: "2026/12/07 06:21" in zh-CN.
  function formatTime(iso) {
    if (!iso) return "";
    const when = new Date(iso);
    if (isNaN(when.getTime())) return String(iso);
    return new Intl.DateTimeFormat(lang, {
      timeZone: timeZone(),
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hour12: false,
    }).format(when);
  }

  // The language switch in the page's top bar.
  function addSwitch() {
    const bar = document.querySelector("header.bar");
    if (!bar) return;
    const select = document.createElement("select");
    select.id = "lang";
    select.className = "lang";
    select.setAttribute("aria-label", "Language");
    for (const [value, label] of Object.entries(LANGUAGES)) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = label;
      option.dataset.noI18n = "";
      select.append(option);
    }
    select.value = lang;
    select.addEventListener("change", () => setLang(select.value));
    bar.insertBefore(select, bar.querySelector(".who"));
  }

  window.RealnameI18n = {
    t,
    apply,
    setLang,
    onChange,
    lang: () => lang,
    timeZone,
    setTimeZone,
    formatTime,
    DEFAULT_TIME_ZONE,
  };
  addSwitch();
  apply();
})();
